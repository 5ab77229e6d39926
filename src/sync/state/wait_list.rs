//! [`WaitList`]: the FIFO of waiting futures behind every primitive in `sync`.
//!
//! # Implementation
//!
//! Nodes live in a [`Slab`]; the queued ones are also linked into a doubly linked list
//! by slab index (not by pointer), so pushing, granting the front and removing any
//! node are O(1) and need no `unsafe`.
//!
//! A node belongs to the one future that pushed it, which holds its key:
//!
//! 1. The future pushes a node ([`push_back`](WaitList::push_back)): it is *queued*,
//!    holding what the future asks for (`W`: permits, say) and its waker.
//! 2. The primitive grants it ([`grant_front`](WaitList::grant_front),
//!    [`grant_all`](WaitList::grant_all)): the node leaves the list but stays in the
//!    slab, now *granted* with what it was given (`G`: an index, an error), and its
//!    waker is handed back to be woken once the state is unlocked.
//! 3. The future takes its grant when polled ([`check`](WaitList::check)), or, when it
//!    is dropped, [`remove`](WaitList::remove)s the node and learns whether it had been
//!    granted, so it can pass the grant on. Either way the node is freed by its owner
//!    only, so a key is never reused while its future still holds it.

use slab::Slab;
use std::task::Waker;

/// No node: the end of the list.
const NIL: usize = usize::MAX;

enum NodeState<W, G> {
    /// In the list, waiting; holds what the waiter asked for.
    Queued(W),
    /// Out of the list, granted; holds what it was given until its future takes it.
    Granted(G),
}

struct Node<W, G> {
    /// The waker of a queued node; `None` once granted (it was handed out to be woken).
    waker: Option<Waker>,
    state: NodeState<W, G>,
    /// Neighbours in the list while queued; `NIL` at the ends and once granted.
    prev: usize,
    next: usize,
}

/// A FIFO of waiters: `W` is what a waiter asks for, `G` what it is granted.
pub(crate) struct WaitList<W, G> {
    nodes: Slab<Node<W, G>>,
    /// The oldest queued node, or `NIL`.
    head: usize,
    /// The newest queued node, or `NIL`.
    tail: usize,
    /// Queued nodes (granted ones are in the slab but not counted).
    queued: usize,
}

impl<W, G> WaitList<W, G> {
    pub(crate) fn new() -> WaitList<W, G> {
        WaitList {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            queued: 0,
        }
    }

    /// Queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    /// Whether no waiter is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queues a waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, want: W, waker: &Waker) -> usize {
        let key = self.nodes.insert(Node {
            waker: Some(waker.clone()),
            state: NodeState::Queued(want),
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = key,
            t => self.nodes[t].next = key,
        }
        self.tail = key;
        self.queued += 1;
        key
    }

    /// Queues a granted node again, at the front: it was woken but found what it was
    /// woken for already taken (by a newcomer that did not queue). Its place is kept.
    ///
    /// # Panics
    ///
    /// If `key` is still queued.
    pub(crate) fn requeue_front(&mut self, key: usize, want: W, waker: &Waker) {
        let old_head = self.head;
        let node = &mut self.nodes[key];
        assert!(
            matches!(node.state, NodeState::Granted(_)),
            "wait list: requeue of node {key}, which is still queued"
        );
        node.state = NodeState::Queued(want);
        node.waker = Some(waker.clone());
        node.prev = NIL;
        node.next = old_head;
        match old_head {
            NIL => self.tail = key,
            h => self.nodes[h].prev = key,
        }
        self.head = key;
        self.queued += 1;
    }

    /// Whether node `key` has been granted (and not yet taken).
    pub(crate) fn is_granted(&self, key: usize) -> bool {
        matches!(self.nodes[key].state, NodeState::Granted(_))
    }

    /// The owner's poll: takes the grant (freeing the node) if there is one; otherwise
    /// refreshes the node's waker and returns `None`.
    pub(crate) fn check(&mut self, key: usize, waker: &Waker) -> Option<G> {
        let node = &mut self.nodes[key];
        match node.state {
            NodeState::Granted(_) => match self.nodes.remove(key).state {
                NodeState::Granted(g) => Some(g),
                NodeState::Queued(_) => unreachable!("wait list: node {key} changed state"),
            },
            NodeState::Queued(_) => {
                match &mut node.waker {
                    Some(w) if w.will_wake(waker) => {}
                    slot => *slot = Some(waker.clone()),
                }
                None
            }
        }
    }

    /// The owner's drop (or its completion by other means): frees node `key`,
    /// unlinking it if queued. Returns the grant if it had one, so the owner can pass
    /// it on.
    pub(crate) fn remove(&mut self, key: usize) -> Option<G> {
        let node = self.nodes.remove(key);
        match node.state {
            NodeState::Granted(g) => Some(g),
            NodeState::Queued(_) => {
                match node.prev {
                    NIL => self.head = node.next,
                    p => self.nodes[p].next = node.next,
                }
                match node.next {
                    NIL => self.tail = node.prev,
                    n => self.nodes[n].prev = node.prev,
                }
                self.queued -= 1;
                None
            }
        }
    }

    /// What the oldest queued waiter asks for.
    pub(crate) fn front(&self) -> Option<&W> {
        match self.head {
            NIL => None,
            h => match &self.nodes[h].state {
                NodeState::Queued(w) => Some(w),
                NodeState::Granted(_) => unreachable!("wait list: granted node {h} queued"),
            },
        }
    }

    /// Grants the oldest queued waiter `grant`; returns its waker, to wake once the
    /// state is unlocked. `None` if nobody is queued.
    pub(crate) fn grant_front(&mut self, grant: G) -> Option<Waker> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        let node = &mut self.nodes[key];
        let next = node.next;
        node.state = NodeState::Granted(grant);
        node.prev = NIL;
        node.next = NIL;
        let waker = node.waker.take();
        self.head = next;
        match next {
            NIL => self.tail = NIL,
            n => self.nodes[n].prev = NIL,
        }
        self.queued -= 1;
        waker
    }

    /// Grants every queued waiter, oldest first, what `grant` makes of its position
    /// (0, 1, ...); their wakers go to `wakes`.
    pub(crate) fn grant_all(&mut self, mut grant: impl FnMut(usize) -> G, wakes: &mut Wakes) {
        let mut i = 0;
        while !self.is_empty() {
            if let Some(w) = self.grant_front(grant(i)) {
                wakes.push(w);
            }
            i += 1;
        }
    }
}

/// Wakers collected under a state's lock, woken after it is released (a waker may
/// run code that touches the same state). Holds one waker without allocating.
#[derive(Default)]
#[must_use = "collected wakers must be woken"]
pub(crate) struct Wakes {
    one: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakes {
    pub(crate) fn new() -> Wakes {
        Wakes::default()
    }

    /// One waker, or none.
    pub(crate) fn from_one(waker: Option<Waker>) -> Wakes {
        Wakes {
            one: waker,
            more: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        if self.one.is_none() {
            self.one = Some(waker);
        } else {
            self.more.push(waker);
        }
    }

    /// Adds `waker` if there is one.
    pub(crate) fn push_opt(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.push(w);
        }
    }

    /// Wakes them all. Call it with the state unlocked.
    pub(crate) fn wake(self) {
        if let Some(w) = self.one {
            w.wake();
        }
        for w in self.more {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fifo_grant_remove_and_requeue() {
        let (count, w) = waker();
        let mut l: WaitList<u32, &str> = WaitList::new();
        let a = l.push_back(1, &w);
        let b = l.push_back(2, &w);
        let c = l.push_back(3, &w);
        assert_eq!(l.len(), 3);
        assert_eq!(l.front(), Some(&1));
        // Removing the middle keeps the order of the rest.
        assert_eq!(l.remove(b), None);
        assert_eq!(l.len(), 2);
        l.grant_front("a").unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(l.is_granted(a));
        assert_eq!(l.front(), Some(&3));
        assert_eq!(l.check(c, &w), None);
        // A granted node put back goes to the front.
        l.requeue_front(a, 1, &w);
        assert_eq!(l.front(), Some(&1));
        assert_eq!(l.check(a, &w), None);
        let mut wakes = Wakes::new();
        l.grant_all(|i| if i == 0 { "first" } else { "second" }, &mut wakes);
        wakes.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        assert!(l.is_empty());
        assert_eq!(l.check(a, &w), Some("first"));
        assert_eq!(l.remove(c), Some("second"));
        assert!(l.nodes.is_empty());
        assert_eq!((l.head, l.tail), (NIL, NIL));
    }

    #[test]
    fn random_operations_match_a_vecdeque() {
        let (_count, w) = waker();
        let mut l: WaitList<u64, ()> = WaitList::new();
        let mut model: std::collections::VecDeque<(usize, u64)> = Default::default();
        let mut granted: Vec<usize> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 5 {
                0 | 1 => {
                    let k = l.push_back(step, &w);
                    model.push_back((k, step));
                }
                2 if !model.is_empty() => {
                    let i = (x as usize / 5) % model.len();
                    let (k, _) = model.remove(i).unwrap();
                    assert_eq!(l.remove(k), None);
                }
                3 => {
                    let got = l.grant_front(());
                    match model.pop_front() {
                        Some((k, _)) => {
                            assert!(got.is_some());
                            granted.push(k);
                        }
                        None => assert!(got.is_none()),
                    }
                }
                _ => {
                    if let Some(k) = granted.pop() {
                        assert_eq!(l.check(k, &w), Some(()));
                    }
                }
            }
            assert_eq!(l.len(), model.len());
            assert_eq!(l.front(), model.front().map(|(_, v)| v));
        }
    }
}
