//! Xok-style hierarchical capabilities. A capability is a name (a byte
//! string) with permissions; it dominates every capability whose name it
//! prefixes and whose permissions it includes. Guarded resources (pages,
//! environments) carry a guard capability; a call that touches one names a
//! slot in the caller's capability list, and the kernel checks that the
//! capability there dominates the guard with the permissions the call needs.

/// Longest capability name.
pub const CAP_NAME_LEN: usize = 12;
/// Capability slots per environment.
pub const NCAPS: usize = 16;

pub const PERM_READ: u8 = 1;
pub const PERM_WRITE: u8 = 2;
/// May be given to another environment.
pub const PERM_GRANT: u8 = 4;
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE | PERM_GRANT;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cap {
    pub valid: u8,
    pub perm: u8,
    pub len: u8,
    pub _pad: u8,
    pub name: [u8; CAP_NAME_LEN],
}

impl Cap {
    /// The empty slot.
    pub const NONE: Cap = Cap {
        valid: 0,
        perm: 0,
        len: 0,
        _pad: 0,
        name: [0; CAP_NAME_LEN],
    };
    /// The root capability: the empty name with every permission.
    pub const ROOT: Cap = Cap {
        valid: 1,
        perm: PERM_ALL,
        len: 0,
        _pad: 0,
        name: [0; CAP_NAME_LEN],
    };

    /// A capability with the given name and permissions (None if too long).
    pub fn new(name: &[u8], perm: u8) -> Option<Cap> {
        if name.len() > CAP_NAME_LEN || perm & !PERM_ALL != 0 {
            return None;
        }
        let mut c = Cap {
            valid: 1,
            perm,
            len: name.len() as u8,
            ..Cap::NONE
        };
        c.name[..name.len()].copy_from_slice(name);
        Some(c)
    }

    pub fn is_valid(&self) -> bool {
        self.valid == 1 && self.len as usize <= CAP_NAME_LEN
    }

    pub fn name(&self) -> &[u8] {
        &self.name[..(self.len as usize).min(CAP_NAME_LEN)]
    }

    /// The value of this capability as XN sees it (what acl-ufs compare and
    /// metadata records as an owner): a hash of its name, never 0.
    pub fn xn_value(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in self.name() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        h | 1 << 63
    }

    /// Whether this capability names a prefix of `guard` and holds `need`.
    pub fn allows(&self, guard: &Cap, need: u8) -> bool {
        self.is_valid()
            && guard.is_valid()
            && guard.name().starts_with(self.name())
            && self.perm & need == need
    }

    /// Whether this capability dominates `other` (prefix and all its permissions).
    pub fn dominates(&self, other: &Cap) -> bool {
        self.allows(other, other.perm)
    }

    /// A sub-capability: this name extended by `ext`, with a subset of the permissions.
    pub fn derive(&self, ext: &[u8], perm: u8) -> Option<Cap> {
        if !self.is_valid() || perm & !self.perm != 0 {
            return None;
        }
        let len = self.name().len() + ext.len();
        if len > CAP_NAME_LEN {
            return None;
        }
        let mut c = Cap {
            valid: 1,
            perm,
            len: len as u8,
            ..Cap::NONE
        };
        c.name[..self.name().len()].copy_from_slice(self.name());
        c.name[self.name().len()..len].copy_from_slice(ext);
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominance_is_by_prefix_and_permissions() {
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        let ab = a.derive(b"b", PERM_READ).unwrap();
        assert_eq!(ab.name(), b"ab");
        assert!(Cap::ROOT.dominates(&a) && a.dominates(&ab));
        assert!(
            !ab.dominates(&a),
            "a longer name never dominates a shorter one"
        );
        assert!(ab.allows(&ab, PERM_READ) && !ab.allows(&ab, PERM_WRITE));
        let b = Cap::new(b"b", PERM_ALL).unwrap();
        assert!(!b.allows(&ab, PERM_READ), "sibling names do not dominate");
        assert!(!Cap::NONE.allows(&ab, 0), "an empty slot allows nothing");
    }

    #[test]
    fn derivation_cannot_amplify() {
        let r = Cap::new(b"x", PERM_READ).unwrap();
        assert!(r.derive(b"y", PERM_WRITE).is_none());
        assert!(r.derive(&[0; CAP_NAME_LEN], PERM_READ).is_none());
        assert!(Cap::new(&[1; CAP_NAME_LEN + 1], PERM_READ).is_none());
        assert!(Cap::new(b"z", 0x80).is_none());
        let mut forged = r;
        forged.len = 200;
        assert!(!forged.is_valid() && !forged.allows(&r, PERM_READ));
    }
}
