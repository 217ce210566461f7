//! A generational slab: dense storage addressed by keys that never alias.
//!
//! A key packs a slot index and the slot's generation, so a key kept after
//! its entry was removed (a late event about a finished invocation, an
//! environment that already exited) is recognised as stale instead of
//! silently addressing whatever reused the slot. No allocation once the slab
//! has grown to its working size.

#[derive(Debug)]
enum Slot<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

/// Key into a [`Slab`]: `generation << 32 | index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlabKey(u64);

impl SlabKey {
    fn new(index: u32, generation: u32) -> Self {
        SlabKey(((generation as u64) << 32) | index as u64)
    }
    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn as_u64(self) -> u64 {
        self.0
    }
    pub fn from_u64(raw: u64) -> Self {
        SlabKey(raw)
    }
}

const NO_FREE: u32 = u32::MAX;

#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free_head: u32,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free_head: NO_FREE, len: 0 }
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn insert_with(&mut self, make: impl FnOnce(SlabKey) -> T) -> SlabKey {
        self.len += 1;
        if self.free_head != NO_FREE {
            let index = self.free_head;
            let slot = &mut self.slots[index as usize];
            let Slot::Vacant { generation, next_free } = *slot else {
                unreachable!("free list points at an occupied slot")
            };
            let generation = generation.wrapping_add(1);
            let key = SlabKey::new(index, generation);
            self.free_head = next_free;
            *slot = Slot::Occupied { generation, value: make(key) };
            key
        } else {
            let index = u32::try_from(self.slots.len()).expect("slab exceeds u32 slots");
            let key = SlabKey::new(index, 0);
            self.slots.push(Slot::Occupied { generation: 0, value: make(key) });
            key
        }
    }

    pub fn get(&self, key: SlabKey) -> Option<&T> {
        match self.slots.get(key.index()) {
            Some(Slot::Occupied { generation, value }) if *generation == key.generation() => Some(value),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: SlabKey) -> Option<&mut T> {
        match self.slots.get_mut(key.index()) {
            Some(Slot::Occupied { generation, value }) if *generation == key.generation() => Some(value),
            _ => None,
        }
    }

    pub fn remove(&mut self, key: SlabKey) -> Option<T> {
        let index = key.index();
        match self.slots.get(index) {
            Some(Slot::Occupied { generation, .. }) if *generation == key.generation() => {}
            _ => return None,
        }
        let vacant = Slot::Vacant { generation: key.generation(), next_free: self.free_head };
        let Slot::Occupied { value, .. } = std::mem::replace(&mut self.slots[index], vacant) else { unreachable!() };
        self.free_head = index as u32;
        self.len -= 1;
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (SlabKey, &T)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| match slot {
            Slot::Occupied { generation, value } => Some((SlabKey::new(index as u32, *generation), value)),
            Slot::Vacant { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_do_not_alias_reused_slots() {
        let mut slab = Slab::default();
        let a = slab.insert_with(|_| "a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert_with(|_| "b");
        assert_ne!(a, b, "a reused slot gets a new generation");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn insert_with_sees_its_own_key() {
        let mut slab = Slab::default();
        let key = slab.insert_with(|key| key);
        assert_eq!(slab.get(key), Some(&key));
        assert_eq!(slab.iter().count(), 1);
    }
}
