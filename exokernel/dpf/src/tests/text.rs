//! The filter-file syntax.

use super::gen::filter;
use crate::atom::{Atom, Shift};
use crate::text::{parse, parse_atom, SyntaxError};
use crate::FilterError;
use proptest::prelude::*;

#[test]
fn parses_names_options_and_atoms() {
    let specs = parse(
        "# DNS and friends\n\
         dns: 12:2=0x0800 23:1=17 ip_hl 2:2=53   # port 53\n\
         \n\
         v4 env=7 share: 14:1&0xf0=0x40\n\
         deep: 0:1=1 @1&0x3*4+2 0:2=0x1234\n",
    )
    .unwrap();
    assert_eq!(specs.len(), 3);
    assert_eq!(
        (
            specs[0].name.as_str(),
            specs[0].line,
            specs[0].env,
            specs[0].share
        ),
        ("dns", 2, 1, false)
    );
    assert_eq!(specs[0].filter.atoms()[2], Atom::Shift(Shift::IP_HL));
    assert_eq!((specs[1].env, specs[1].share), (7, true));
    assert_eq!(specs[2].filter.atoms()[1], parse_atom("@1&3*4+2").unwrap());
}

#[test]
fn errors_carry_the_line() {
    let e = |s: &str| parse(s).unwrap_err();
    assert_eq!(e("a: 1:2=3\nb: 0:3=1").line, 2);
    assert_eq!(
        e("b: 0:3=1").error,
        SyntaxError::Filter(FilterError::BadWidth { atom: 0, width: 3 })
    );
    assert_eq!(e("no colon here").error, SyntaxError::MissingColon);
    assert_eq!(e("9x: 0:1=1").error, SyntaxError::BadName("9x".into()));
    assert_eq!(
        e("a env=x: 0:1=1").error,
        SyntaxError::BadNumber("x".into())
    );
    assert_eq!(
        e("a quick: 0:1=1").error,
        SyntaxError::BadOption("quick".into())
    );
    assert_eq!(e("a: 0:1").error, SyntaxError::BadAtom("0:1".into()));
    assert_eq!(e("a: @1&3/4").error, SyntaxError::BadNumber("3/4".into()));
    assert_eq!(
        e("a: 0:1=1\na: 0:1=2").error,
        SyntaxError::DuplicateName("a".into())
    );
    assert_eq!(
        e("a: 0:1=0x1ff").error,
        SyntaxError::Filter(FilterError::ValueOutsideMask {
            atom: 0,
            value: 0x1ff,
            mask: 0xff
        })
    );
    assert_eq!(e("a:").error, SyntaxError::Filter(FilterError::Empty));
    assert_eq!(
        std::format!("{}", e("a: 0:1=99999999999")),
        "line 1: bad number `99999999999`"
    );
}

proptest! {
    #[test]
    fn display_parses_back(f in filter()) {
        for a in f.atoms() {
            let s = std::format!("{a}");
            prop_assert_eq!(parse_atom(&s).unwrap(), *a, "{}", s);
        }
    }
}
