//! Sizes as the command line takes them: a byte count with an optional
//! binary unit, `K`, `M`, `G` or `T` in either case (`65536`, `64K`, `128M`).

use std::fmt;

/// Why a size does not parse; each names the text it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// No digits, or something other than digits before the unit.
    NotANumber(String),
    /// Letters after the digits that are not a unit.
    UnknownUnit { text: String, unit: String },
    /// More bytes than 64 bits count.
    Overflow(String),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::NotANumber(text) => {
                write!(f, "'{text}' is not a number with an optional K/M/G/T unit")
            }
            SizeError::UnknownUnit { text, unit } => {
                write!(f, "'{text}': unknown unit '{unit}' (use K, M, G or T)")
            }
            SizeError::Overflow(text) => write!(f, "'{text}' is too large"),
        }
    }
}

impl std::error::Error for SizeError {}

/// Parses a size such as `65536`, `64K`, `128M`, `1g` or `2T` into bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &t[digits.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::NotANumber(text.to_string()));
    }
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(SizeError::UnknownUnit {
                text: text.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    let overflow = || SizeError::Overflow(text.to_string());
    // All digits: the only way to fail is a count past u64.
    let n: u64 = digits.parse().map_err(|_| overflow())?;
    n.checked_mul(1 << shift).ok_or_else(overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("128M"), Ok(128 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size(" 16M "), Ok(16 << 20));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn names_what_is_wrong() {
        let not_a_number = |s: &str| SizeError::NotANumber(s.to_string());
        for bad in ["", "M", "-5M", "+5", "1.5G", "lots", "12 M"] {
            assert_eq!(parse_size(bad), Err(not_a_number(bad)), "{bad}");
        }
        assert_eq!(
            parse_size("12Q"),
            Err(SizeError::UnknownUnit {
                text: "12Q".into(),
                unit: "Q".into()
            })
        );
        assert_eq!(
            parse_size("64MB").unwrap_err().to_string(),
            "'64MB': unknown unit 'MB' (use K, M, G or T)"
        );
        for huge in ["99999999999T", "99999999999999999999", "16777216T"] {
            assert_eq!(parse_size(huge), Err(SizeError::Overflow(huge.into())));
        }
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
    }
}
