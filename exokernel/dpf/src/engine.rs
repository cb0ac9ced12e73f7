//! The DPF engine as the kernel uses it: installed filters with their owners, the merged
//! trie, its compiled code, protection (overlap refusal, ownership, sharing) and limits.

use crate::jit::{Jit, JitError, Stats};
use crate::overlap::overlapping;
use crate::trie::{Group, Node, Trie};
use crate::verify::Filter;
use crate::{EnvId, FilterId};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

/// Resource bounds. Time is bounded by the language (no loops, at most
/// [`crate::MAX_ATOMS`] atoms per filter, each trie node visited at most once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_filters: usize,
    /// Estimated bytes of trie nodes, edges and hash tables.
    pub max_trie_bytes: usize,
    pub max_code_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_filters: 4096,
            max_trie_bytes: 4 << 20,
            max_code_bytes: 4 << 20,
        }
    }
}

/// Estimated trie cost of one node (node, its edge, its share of a group and hash slots).
const NODE_BYTES: usize = core::mem::size_of::<Node>() + core::mem::size_of::<Group>() + 8 + 4 * 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// The filter could accept packets that `filter`, owned by `owner`, already claims.
    Overlap {
        filter: FilterId,
        owner: EnvId,
    },
    TooManyFilters {
        max: usize,
    },
    TrieFull {
        bytes: usize,
        max: usize,
    },
    Jit(JitError),
}

/// Errors of calls naming an installed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessError {
    NoSuchFilter(FilterId),
    NotOwner { filter: FilterId, owner: EnvId },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Overlap { filter, owner } => write!(
                f,
                "overlaps filter {filter} of environment {owner}, which has not permitted sharing"
            ),
            InsertError::TooManyFilters { max } => write!(f, "too many filters (limit {max})"),
            InsertError::TrieFull { bytes, max } => write!(
                f,
                "the merged trie would need about {bytes} bytes, limit {max}"
            ),
            InsertError::Jit(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessError::NoSuchFilter(id) => write!(f, "no filter {id}"),
            AccessError::NotOwner { filter, owner } => {
                write!(f, "filter {filter} belongs to environment {owner}")
            }
        }
    }
}

/// Who may install filters overlapping one of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grantee {
    Env(EnvId),
    Anyone,
}

#[derive(Clone, Debug)]
struct Installed {
    owner: EnvId,
    filter: Filter,
    shared_with: Vec<Grantee>,
}

impl Installed {
    fn admits(&self, env: EnvId) -> bool {
        self.owner == env
            || self
                .shared_with
                .iter()
                .any(|g| *g == Grantee::Anyone || *g == Grantee::Env(env))
    }
}

/// All installed filters, merged and compiled.
#[derive(Clone, Debug)]
pub struct Dpf {
    limits: Limits,
    filters: BTreeMap<FilterId, Installed>,
    next_id: FilterId,
    trie: Trie,
    jit: Jit,
    stats: Stats,
}

impl Default for Dpf {
    fn default() -> Self {
        Dpf::new(Limits::default())
    }
}

impl Dpf {
    pub fn new(limits: Limits) -> Dpf {
        let mut d = Dpf {
            limits,
            filters: BTreeMap::new(),
            next_id: 0,
            trie: Trie::default(),
            jit: Jit::default(),
            stats: Stats::default(),
        };
        // An empty trie compiles to a few bytes; cannot fail with any sane limit.
        if d.jit.compile(&d.trie, false, usize::MAX).is_ok() {
            d.trie.clear_dirty();
        }
        d
    }

    /// Install `filter` for environment `owner` and recompile. Refused if it overlaps a
    /// filter of another environment that has not permitted `owner` to share (see
    /// [`crate::overlap`]), or if a limit would be exceeded.
    pub fn insert(&mut self, owner: EnvId, filter: Filter) -> Result<FilterId, InsertError> {
        if self.filters.len() >= self.limits.max_filters {
            return Err(InsertError::TooManyFilters {
                max: self.limits.max_filters,
            });
        }
        let bytes = self.trie_bytes() + filter.atoms().len() * NODE_BYTES;
        if bytes > self.limits.max_trie_bytes {
            return Err(InsertError::TrieFull {
                bytes,
                max: self.limits.max_trie_bytes,
            });
        }
        for other in overlapping(&self.trie, &filter) {
            if let Some(inst) = self.filters.get(&other) {
                if !inst.admits(owner) {
                    return Err(InsertError::Overlap {
                        filter: other,
                        owner: inst.owner,
                    });
                }
            }
        }
        // Ids are never reused (they name filters in other environments' tables too);
        // u32::MAX is the JIT's "no match".
        let id = self.next_id;
        if id == u32::MAX {
            return Err(InsertError::TooManyFilters {
                max: self.limits.max_filters,
            });
        }
        self.trie.insert(filter.atoms(), id);
        if let Err(e) = self.recompile() {
            self.trie.remove(filter.atoms(), id);
            self.recompile_smaller();
            return Err(InsertError::Jit(e));
        }
        self.next_id += 1;
        let shared_with = Vec::new();
        self.filters.insert(
            id,
            Installed {
                owner,
                filter,
                shared_with,
            },
        );
        Ok(id)
    }

    /// Remove filter `id`; only its owner may.
    pub fn remove(&mut self, caller: EnvId, id: FilterId) -> Result<(), AccessError> {
        self.owned(caller, id)?;
        if let Some(inst) = self.filters.remove(&id) {
            self.trie.remove(inst.filter.atoms(), id);
        }
        self.recompile_smaller();
        Ok(())
    }

    /// Let `grantee` install filters overlapping filter `id`; only its owner may.
    pub fn permit(
        &mut self,
        caller: EnvId,
        id: FilterId,
        grantee: Grantee,
    ) -> Result<(), AccessError> {
        self.owned(caller, id)?;
        if let Some(inst) = self.filters.get_mut(&id) {
            if !inst.shared_with.contains(&grantee) {
                inst.shared_with.push(grantee);
            }
        }
        Ok(())
    }

    fn owned(&self, caller: EnvId, id: FilterId) -> Result<(), AccessError> {
        match self.filters.get(&id) {
            None => Err(AccessError::NoSuchFilter(id)),
            Some(i) if i.owner != caller => Err(AccessError::NotOwner {
                filter: id,
                owner: i.owner,
            }),
            Some(_) => Ok(()),
        }
    }

    fn recompile(&mut self) -> Result<(), JitError> {
        self.stats = self
            .jit
            .compile(&self.trie, true, self.limits.max_code_bytes)?;
        self.trie.clear_dirty();
        Ok(())
    }

    /// Recompile after the trie shrank. That cannot exceed the code limit, but stale code
    /// would still deliver a removed filter's packets, so fall back to a full compilation
    /// without a limit rather than keep it.
    fn recompile_smaller(&mut self) {
        if self.recompile().is_err() {
            if let Ok(s) = self.jit.compile(&self.trie, false, usize::MAX) {
                self.stats = s;
                self.trie.clear_dirty();
            }
        }
    }

    /// Classify with the trie interpreter.
    pub fn classify(&self, pkt: &[u8]) -> Option<FilterId> {
        self.trie.classify(pkt)
    }

    /// Classify with the reference semantics, filter by filter.
    pub fn classify_reference(&self, pkt: &[u8]) -> Option<FilterId> {
        crate::classify(self.filters.iter().map(|(id, i)| (*id, &i.filter)), pkt)
    }

    /// The compiled trie: `extern "sysv64" fn(*const u8, usize) -> u32`.
    pub fn code(&self) -> &[u8] {
        self.jit.code()
    }

    /// What the last recompilation regenerated and what it copied.
    pub fn last_compile(&self) -> Stats {
        self.stats
    }

    pub fn owner(&self, id: FilterId) -> Option<EnvId> {
        self.filters.get(&id).map(|i| i.owner)
    }

    pub fn filter(&self, id: FilterId) -> Option<&Filter> {
        self.filters.get(&id).map(|i| &i.filter)
    }

    pub fn filters(&self) -> impl Iterator<Item = (FilterId, &Filter)> + '_ {
        self.filters.iter().map(|(id, i)| (*id, &i.filter))
    }

    pub fn len(&self) -> usize {
        self.filters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    pub fn trie(&self) -> &Trie {
        &self.trie
    }

    /// Estimated memory of the trie.
    pub fn trie_bytes(&self) -> usize {
        self.trie.nodes() * NODE_BYTES + self.trie.hash_slots() * 4
    }
}
