//! Live tables: every table by id (this keeps a table alive while its owner
//! lives, even if no term refers to it, as ETS does) and named tables by name.

use super::Table;
use crate::resource::Handle;
use once_cell::sync::Lazy;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static BY_ID: Lazy<RwLock<HashMap<u64, Handle<Table>>>> = Lazy::new(Default::default);
/// Keyed by the raw atom term (atoms are never garbage collected in OTP 25).
static BY_NAME: Lazy<RwLock<HashMap<u64, Handle<Table>>>> = Lazy::new(Default::default);

pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Registers a new table; fails (and registers nothing) if `name` is taken.
pub fn register(table: &Handle<Table>, name: Option<u64>) -> bool {
    if let Some(name) = name {
        let mut names = BY_NAME.write();
        if names.contains_key(&name) {
            return false;
        }
        names.insert(name, table.clone());
    }
    BY_ID.write().insert(table.id, table.clone());
    true
}

pub fn unregister(table: &Table) {
    let state = table.state.lock();
    if state.named {
        let mut names = BY_NAME.write();
        if names.get(&state.name).is_some_and(|t| t.id == table.id) {
            names.remove(&state.name);
        }
    }
    drop(state);
    BY_ID.write().remove(&table.id);
}

pub fn by_name(name: u64) -> Option<Handle<Table>> {
    BY_NAME.read().get(&name).cloned()
}

pub fn by_id(id: u64) -> Option<Handle<Table>> {
    BY_ID.read().get(&id).cloned()
}

/// Moves a named table to a new name; false if the new name is taken.
pub fn rename(table: &Handle<Table>, old: u64, new: u64) -> bool {
    let mut names = BY_NAME.write();
    if names.contains_key(&new) {
        return false;
    }
    names.remove(&old);
    names.insert(new, table.clone());
    true
}

pub fn all() -> Vec<Handle<Table>> {
    let mut v: Vec<_> = BY_ID.read().values().cloned().collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.id));
    v
}

/// Tables alive (registered and not deleted).
pub fn count() -> usize {
    BY_ID.read().len()
}
