//! Wakeup predicates: verification when installed, evaluation by the
//! scheduler. A predicate is a sum of products of comparisons; memory terms
//! read the sleeping environment's memory through a caller-supplied reader,
//! which fails for unmapped addresses.

use crate::Error;
use exo_abi::layout::KERNEL_BASE;
use exo_abi::wakeup::*;

/// Checks a predicate: bounded length, known kinds and comparisons, aligned
/// reads of user-visible memory (the environment's own, or the read-only
/// windows such as the environment table), no empty product.
pub fn verify(terms: &[WkTerm]) -> Result<(), Error> {
    if terms.is_empty() || terms.len() > MAX_TERMS {
        return Err(Error::Invalid);
    }
    let mut product_len = 0;
    for t in terms {
        match t.kind {
            TERM_OR => {
                if product_len == 0 {
                    return Err(Error::Invalid);
                }
                product_len = 0;
                continue;
            }
            TERM_MEM => {
                let w = t.width as u64;
                if !matches!(w, 1 | 2 | 4 | 8)
                    || t.addr % w != 0
                    || t.addr.checked_add(w).is_none_or(|e| e > KERNEL_BASE)
                {
                    return Err(Error::Invalid);
                }
            }
            TERM_TICKS => {}
            _ => return Err(Error::Invalid),
        }
        if t.cmp > CMP_GE {
            return Err(Error::Invalid);
        }
        product_len += 1;
    }
    if product_len == 0 {
        return Err(Error::Invalid);
    }
    Ok(())
}

fn compare(cmp: u8, a: u64, b: u64) -> bool {
    match cmp {
        CMP_EQ => a == b,
        CMP_NE => a != b,
        CMP_LT => a < b,
        CMP_LE => a <= b,
        CMP_GT => a > b,
        _ => a >= b,
    }
}

/// Evaluates a verified predicate. `read(addr, width)` reads the environment's
/// memory; a failed read makes the predicate true, so that the environment
/// wakes and meets the fault itself rather than sleeping forever.
pub fn eval(terms: &[WkTerm], ticks: u64, mut read: impl FnMut(u64, u8) -> Option<u64>) -> bool {
    let mut product = true;
    for t in terms {
        match t.kind {
            TERM_OR => {
                if product {
                    return true;
                }
                product = true;
            }
            TERM_TICKS => product &= compare(t.cmp, ticks, t.value),
            _ => match read(t.addr, t.width) {
                Some(v) => product &= compare(t.cmp, v & t.mask, t.value),
                None => return true,
            },
        }
    }
    product
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(addr: u64, width: u8, cmp: u8, value: u64) -> WkTerm {
        WkTerm::mem(addr, width, cmp, value)
    }
    const OR: WkTerm = WkTerm::OR;

    #[test]
    fn verifier_rejects_malformed_predicates() {
        assert!(verify(&[mem(0x1000, 8, CMP_EQ, 1)]).is_ok());
        assert!(verify(&[]).is_err());
        assert!(verify(&[mem(0x1001, 8, CMP_EQ, 1)]).is_err(), "unaligned");
        assert!(verify(&[mem(0x1000, 3, CMP_EQ, 1)]).is_err(), "odd width");
        assert!(
            verify(&[mem(KERNEL_BASE, 8, CMP_EQ, 1)]).is_err(),
            "kernel memory"
        );
        assert!(verify(&[mem(u64::MAX - 7, 8, CMP_EQ, 1)]).is_err(), "wraps");
        assert!(verify(&[mem(0, 8, 9, 1)]).is_err(), "bad comparison");
        assert!(
            verify(&[OR, mem(0, 8, CMP_EQ, 1)]).is_err(),
            "empty product"
        );
        assert!(verify(&[mem(0, 8, CMP_EQ, 1), OR]).is_err(), "trailing or");
        assert!(
            verify(&[mem(0, 8, CMP_EQ, 1); MAX_TERMS + 1]).is_err(),
            "too long"
        );
        let bad_kind = WkTerm {
            kind: 9,
            ..mem(0, 8, CMP_EQ, 1)
        };
        assert!(verify(&[bad_kind]).is_err());
    }

    #[test]
    fn sum_of_products() {
        let flag = |addr| if addr == 0x1000 { Some(5) } else { Some(0) };
        let p = [
            mem(0x1000, 8, CMP_EQ, 5),
            mem(0x2000, 8, CMP_EQ, 1),
            OR,
            mem(0x2000, 8, CMP_EQ, 0),
        ];
        assert!(eval(&p, 0, |a, _| flag(a)), "second product holds");
        let q = [mem(0x1000, 8, CMP_GT, 5)];
        assert!(!eval(&q, 0, |a, _| flag(a)));
        let t = [WkTerm {
            kind: TERM_TICKS,
            cmp: CMP_GE,
            value: 10,
            ..Default::default()
        }];
        assert!(!eval(&t, 9, |_, _| None) && eval(&t, 10, |_, _| None));
        assert!(
            eval(&q, 0, |_, _| None),
            "unreadable memory wakes the environment"
        );
    }
}
