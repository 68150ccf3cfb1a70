//! Bytes written in one order and read in another, without moving them
//! (VM-free, unit-tested without a VM).
//!
//! A sort key writes a map's keys before it knows their order. Copying each
//! key's bytes into its map once sorted would copy a key nested `d` maps
//! deep `d` times (quadratic in the depth); here bytes are written once,
//! into one buffer (the arena), and parts of the result only refer to
//! ranges of it or to other parts.

use std::cmp::Ordering;

/// A part of the result: the bytes of its pieces, in order.
pub type Part = usize;

enum Node {
    /// A range of the arena.
    Bytes(usize, usize),
    /// Other nodes, one after another.
    Seq(Vec<usize>),
}

pub struct Rope {
    nodes: Vec<Node>,
}

impl Default for Rope {
    fn default() -> Self {
        Self::new()
    }
}

impl Rope {
    /// A rope whose result is its root part (empty so far).
    pub fn new() -> Rope {
        Rope {
            nodes: vec![Node::Seq(Vec::new())],
        }
    }

    pub fn root(&self) -> Part {
        0
    }

    /// A new, empty part (to append to another later).
    pub fn part(&mut self) -> Part {
        self.nodes.push(Node::Seq(Vec::new()));
        self.nodes.len() - 1
    }

    /// Appends the arena's bytes `start..end` to `part`.
    pub fn append_bytes(&mut self, part: Part, start: usize, end: usize) {
        if start == end {
            return;
        }
        if let Node::Seq(children) = &self.nodes[part] {
            if let Some(&last) = children.last() {
                if let Node::Bytes(_, e) = &mut self.nodes[last] {
                    if *e == start {
                        *e = end; // written right after: one range
                        return;
                    }
                }
            }
        }
        self.nodes.push(Node::Bytes(start, end));
        let id = self.nodes.len() - 1;
        self.children(part).push(id);
    }

    /// Appends the part `child` (no longer written to) to `part`.
    pub fn append_part(&mut self, part: Part, child: Part) {
        self.children(part).push(child);
    }

    fn children(&mut self, part: Part) -> &mut Vec<usize> {
        match &mut self.nodes[part] {
            Node::Seq(children) => children,
            Node::Bytes(..) => unreachable!("bytes are not a part"),
        }
    }

    /// The result is the arena as written (no part was moved).
    pub fn is_arena(&self, arena_len: usize) -> bool {
        match &self.nodes[0] {
            Node::Seq(children) => match children[..] {
                [] => arena_len == 0,
                [only] => matches!(self.nodes[only], Node::Bytes(0, e) if e == arena_len),
                _ => false,
            },
            Node::Bytes(..) => false,
        }
    }

    /// The bytes of `part`, in order. Never recursive, however parts nest.
    pub fn slices<'a>(&'a self, arena: &'a [u8], part: Part) -> impl Iterator<Item = &'a [u8]> {
        let mut stack = vec![(part, 0usize)];
        std::iter::from_fn(move || loop {
            let (node, next) = stack.last_mut()?;
            match &self.nodes[*node] {
                Node::Bytes(s, e) => {
                    stack.pop();
                    return Some(&arena[*s..*e]);
                }
                Node::Seq(children) => match children.get(*next) {
                    Some(&child) => {
                        *next += 1;
                        stack.push((child, 0));
                    }
                    None => {
                        stack.pop();
                    }
                },
            }
        })
    }

    /// Compares the bytes of two parts (`memcmp` order).
    pub fn cmp(&self, arena: &[u8], a: Part, b: Part) -> Ordering {
        let mut a = self.slices(arena, a).flat_map(|s| s.iter());
        let mut b = self.slices(arena, b).flat_map(|s| s.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
    }

    /// The result's bytes.
    pub fn flatten(&self, arena: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(arena.len());
        for s in self.slices(arena, self.root()) {
            out.extend_from_slice(s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_writes_stay_the_arena() {
        let mut r = Rope::new();
        r.append_bytes(0, 0, 3);
        r.append_bytes(0, 3, 5);
        assert!(r.is_arena(5));
        assert_eq!(r.flatten(b"abcde"), b"abcde");
    }

    #[test]
    fn parts_are_read_in_the_order_appended() {
        let arena = b"kkKKhv";
        let mut r = Rope::new();
        let (k1, k2) = (r.part(), r.part());
        r.append_bytes(k1, 2, 4); // "KK"
        r.append_bytes(k2, 0, 2); // "kk"
        assert_eq!(r.cmp(arena, k1, k2), Ordering::Less);
        r.append_bytes(0, 4, 5); // "h"
        r.append_part(0, k1);
        r.append_part(0, k2);
        r.append_bytes(0, 5, 6); // "v"
        assert!(!r.is_arena(6));
        assert_eq!(r.flatten(arena), b"hKKkkv");
    }

    #[test]
    fn a_part_nested_a_million_deep_is_read_without_recursion() {
        let mut r = Rope::new();
        let mut inner = r.part();
        r.append_bytes(inner, 0, 1);
        for _ in 0..1_000_000 {
            let outer = r.part();
            r.append_part(outer, inner);
            inner = outer;
        }
        r.append_part(0, inner);
        assert_eq!(r.flatten(b"x"), b"x");
        assert_eq!(r.cmp(b"x", inner, inner), Ordering::Equal);
    }
}
