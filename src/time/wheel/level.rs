//! One level of the timer wheel, and the intrusive list that its slots are made of.
//!
//! A level splits its range into 64 slots of equal width and keeps an `occupied` bitmap
//! of the non-empty ones, so finding the next slot to process is a mask and a
//! `trailing_zeros`, however sparse the level is.

use slab::Slab;

use super::Entry;

/// Bits of a tick that index the slots of one level.
pub(super) const LEVEL_BITS: u32 = 6;

/// Slots per level.
pub(super) const SLOTS: usize = 1 << LEVEL_BITS;

/// Levels in the wheel.
pub(super) const NUM_LEVELS: usize = 6;

/// Bits of a tick covered by the whole wheel. Ticks that agree above them share an
/// *epoch* of 64^6 ticks (about 2.2 years of milliseconds).
pub(super) const EPOCH_BITS: u32 = LEVEL_BITS * NUM_LEVELS as u32;

/// A non-empty slot whose turn has come, and the tick at which it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Expiration {
    /// Level that holds the slot.
    pub(super) level: usize,
    /// Index of the slot within its level.
    pub(super) slot: usize,
    /// First tick covered by the slot: no entry in it is due earlier.
    pub(super) deadline: u64,
}

/// A doubly-linked list of entries threaded through their `prev`/`next` slab indices.
///
/// The list owns no memory, so a slot costs one word and linking or unlinking is O(1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct List {
    /// Slab index of the first entry, if any.
    head: Option<usize>,
}

impl List {
    /// A list with no entries.
    pub(super) const EMPTY: List = List { head: None };

    /// True when no entry is linked.
    pub(super) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Links `key` at the front; the entry must not be on any list.
    pub(super) fn push(&mut self, entries: &mut Slab<Entry>, key: usize) {
        if let Some(old) = self.head {
            entries[old].prev = Some(key);
        }
        let entry = &mut entries[key];
        entry.prev = None;
        entry.next = self.head;
        self.head = Some(key);
    }

    /// Unlinks `key`, which must be on this list.
    pub(super) fn unlink(&mut self, entries: &mut Slab<Entry>, key: usize) {
        let entry = &mut entries[key];
        let (prev, next) = (entry.prev.take(), entry.next.take());
        match prev {
            Some(prev) => entries[prev].next = next,
            None => {
                debug_assert_eq!(self.head, Some(key), "entry is not on this list");
                self.head = next;
            }
        }
        if let Some(next) = next {
            entries[next].prev = prev;
        }
    }

    /// Unlinks and returns the first entry. Popping until `None` drains a detached list
    /// without any allocation, which is how slots are processed.
    pub(super) fn pop(&mut self, entries: &mut Slab<Entry>) -> Option<usize> {
        let key = self.head?;
        self.unlink(entries, key);
        Some(key)
    }
}

/// One level: 64 slots, each `64^level` ticks wide.
#[derive(Debug)]
pub(super) struct Level {
    /// Position in the hierarchy; level 0 has one-tick slots.
    level: usize,
    /// Bit `i` is set exactly when `slots[i]` is non-empty.
    occupied: u64,
    /// The entries filed under each slot.
    slots: [List; SLOTS],
}

impl Level {
    /// An empty level at position `level`.
    pub(super) fn new(level: usize) -> Level {
        Level {
            level,
            occupied: 0,
            slots: [List::EMPTY; SLOTS],
        }
    }

    /// The first non-empty slot after the one that `elapsed` falls in.
    ///
    /// The wheel only files an entry in a slot strictly after the current one (see
    /// [`level_for`]), so the slots at or before it are empty and there is no wrap-around
    /// to consider: the deadline always lies within the current slot of the level above.
    pub(super) fn next_expiration(&self, elapsed: u64) -> Option<Expiration> {
        let current = slot_for(elapsed, self.level);
        let at_or_before = u64::MAX >> (SLOTS - 1 - current);
        debug_assert_eq!(self.occupied & at_or_before, 0, "slot behind elapsed");
        let later = self.occupied & !at_or_before;
        if later == 0 {
            return None;
        }
        let slot = later.trailing_zeros() as usize;
        let slot_shift = LEVEL_BITS * self.level as u32;
        let level_start = elapsed & !((1u64 << (slot_shift + LEVEL_BITS)) - 1);
        Some(Expiration {
            level: self.level,
            slot,
            deadline: level_start + ((slot as u64) << slot_shift),
        })
    }

    /// Files `key`, due at `when`, under its slot and returns the slot index.
    pub(super) fn push(&mut self, entries: &mut Slab<Entry>, key: usize, when: u64) -> usize {
        let slot = slot_for(when, self.level);
        self.slots[slot].push(entries, key);
        self.occupied |= 1 << slot;
        slot
    }

    /// Unlinks `key` from `slot`, clearing the slot's bit if it empties.
    pub(super) fn unlink(&mut self, entries: &mut Slab<Entry>, key: usize, slot: usize) {
        self.slots[slot].unlink(entries, key);
        if self.slots[slot].is_empty() {
            self.occupied &= !(1 << slot);
        }
    }

    /// Detaches the whole list of `slot` so its entries can be fired or refiled.
    pub(super) fn take(&mut self, slot: usize) -> List {
        self.occupied &= !(1 << slot);
        std::mem::take(&mut self.slots[slot])
    }
}

/// The slot index of `tick` at `level`.
pub(super) fn slot_for(tick: u64, level: usize) -> usize {
    (tick >> (LEVEL_BITS * level as u32)) as usize & (SLOTS - 1)
}

/// The level for an entry due at `when`, where `elapsed < when` and both share an epoch.
///
/// It is the level of the highest bit in which the two ticks differ: above that level's
/// digit they agree, so the entry sits in the current slot of every higher level, and at
/// that digit `when` is larger, so its slot comes strictly after the current one. Setting
/// the low bits sends ticks within the current level-0 window to level 0.
pub(super) fn level_for(elapsed: u64, when: u64) -> usize {
    debug_assert!(elapsed < when && (elapsed ^ when) >> EPOCH_BITS == 0);
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = u64::BITS - 1 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}
