//! One metric's last hour, one point per second, in little memory.
//!
//! Owns: a ring of [`POINTS`] `u32` values addressed by the second they
//! belong to (epoch seconds), stored as one-minute chunks (61 of them: the
//! minute being written never shares a chunk with the oldest kept point).
//! A chunk whose
//! points are all equal so far is a single number (most series are
//! constant most of the time: a function's reservation, an idle function's
//! zero throttles); otherwise it is an array of the narrowest width that
//! holds its values (1, 2 or 4 bytes a point), widened when a larger value
//! arrives. A series that has never varied allocates nothing.
//! Never: knows what the values mean (units and scale are the caller's).

/// Points kept: one hour of seconds.
pub const POINTS: u64 = 3_600;
const CHUNK: usize = 60;
const CHUNKS: usize = POINTS as usize / CHUNK + 1;
/// Seconds the chunks can address before wrapping.
const SPAN: u64 = (CHUNKS * CHUNK) as u64;

#[derive(Clone, Debug)]
enum Chunk {
    /// Every point written so far in this chunk equals this value.
    Constant(u32),
    Bytes(Box<[u8; CHUNK]>),
    Halves(Box<[u16; CHUNK]>),
    Words(Box<[u32; CHUNK]>),
}

impl Chunk {
    fn get(&self, offset: usize) -> u32 {
        match self {
            Chunk::Constant(v) => *v,
            Chunk::Bytes(a) => u32::from(a[offset]),
            Chunk::Halves(a) => u32::from(a[offset]),
            Chunk::Words(a) => a[offset],
        }
    }

    /// Sets the point at `offset`; points before it keep their values.
    fn set(&mut self, offset: usize, value: u32) {
        match self {
            Chunk::Constant(v) if *v == value => {}
            Chunk::Bytes(a) if value <= u32::from(u8::MAX) => a[offset] = value as u8,
            Chunk::Halves(a) if value <= u32::from(u16::MAX) => a[offset] = value as u16,
            Chunk::Words(a) => a[offset] = value,
            _ => {
                let widest = (0..CHUNK).map(|i| self.get(i)).max().unwrap_or(0).max(value);
                let mut widened = if widest <= u32::from(u8::MAX) {
                    Chunk::Bytes(Box::new(std::array::from_fn(|i| self.get(i) as u8)))
                } else if widest <= u32::from(u16::MAX) {
                    Chunk::Halves(Box::new(std::array::from_fn(|i| self.get(i) as u16)))
                } else {
                    Chunk::Words(Box::new(std::array::from_fn(|i| self.get(i))))
                };
                widened.set(offset, value);
                *self = widened;
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Chunk::Constant(_) => 0,
            Chunk::Bytes(_) => CHUNK,
            Chunk::Halves(_) => CHUNK * 2,
            Chunk::Words(_) => CHUNK * 4,
        }
    }
}

/// The last hour of one series. Points are written once per second, in
/// order; seconds skipped between two writes take the value given for
/// the gap (see [`Ring::push`]).
#[derive(Clone, Debug)]
pub struct Ring {
    /// The first second this series has a point for.
    born: u64,
    /// The latest second written.
    head: u64,
    /// `None` while every point ever written equals `constant`.
    chunks: Option<Box<[Chunk; CHUNKS]>>,
    constant: u32,
}

fn place(second: u64) -> (usize, usize) {
    let at = (second % SPAN) as usize;
    (at / CHUNK, at % CHUNK)
}

impl Ring {
    /// A series whose first point is `value` at `second`.
    pub fn new(second: u64, value: u32) -> Ring {
        Ring { born: second, head: second, chunks: None, constant: value }
    }

    /// The latest second written.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Writes `value` at `second` (after the head); the seconds in between
    /// get `gap_value`. A write before or at the head is ignored.
    pub fn push(&mut self, second: u64, gap_value: u32, value: u32) {
        if second <= self.head {
            return;
        }
        if second - self.head > POINTS {
            // Everything kept is older than an hour: start over.
            *self = Ring { born: second - POINTS + 1, head: second - 1, chunks: None, constant: gap_value };
        }
        if self.chunks.is_none() {
            if gap_value == self.constant && value == self.constant {
                self.head = second;
                return;
            }
            self.chunks = Some(Box::new(std::array::from_fn(|_| Chunk::Constant(self.constant))));
        }
        let chunks = self.chunks.as_mut().expect("materialised above");
        let mut s = self.head + 1;
        while s < second {
            let (chunk, offset) = place(s);
            if offset == 0 && second - s >= CHUNK as u64 {
                // A whole minute of the gap: one constant chunk.
                chunks[chunk] = Chunk::Constant(gap_value);
                s += CHUNK as u64;
                continue;
            }
            write(&mut chunks[chunk], offset, gap_value);
            s += 1;
        }
        let (chunk, offset) = place(second);
        write(&mut chunks[chunk], offset, value);
        self.head = second;
    }

    /// The value at `second`, if it is within the last hour of this series.
    pub fn get(&self, second: u64) -> Option<u32> {
        if second > self.head || second < self.born || self.head - second >= POINTS {
            return None;
        }
        Some(match &self.chunks {
            None => self.constant,
            Some(chunks) => {
                let (chunk, offset) = place(second);
                chunks[chunk].get(offset)
            }
        })
    }

    /// Heap memory this series uses, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.chunks.as_ref().map_or(0, |chunks| {
            std::mem::size_of::<[Chunk; CHUNKS]>() + chunks.iter().map(Chunk::heap_bytes).sum::<usize>()
        })
    }
}

/// Writing the first point of a chunk starts the chunk's new lap.
fn write(chunk: &mut Chunk, offset: usize, value: u32) {
    if offset == 0 {
        *chunk = Chunk::Constant(value);
    } else {
        chunk.set(offset, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model: every written point in a map.
    fn check_against_model(writes: &[(u64, u32, u32)]) {
        let mut model = std::collections::BTreeMap::new();
        let (first, v0) = (writes[0].0, writes[0].2);
        let mut ring = Ring::new(first, v0);
        model.insert(first, v0);
        let mut head = first;
        for &(second, gap, value) in &writes[1..] {
            ring.push(second, gap, value);
            if second > head {
                for s in head + 1..second {
                    model.insert(s, gap);
                }
                model.insert(second, value);
                head = second;
            }
        }
        for s in first.saturating_sub(10)..=head + 10 {
            let expected = if s + POINTS <= head { None } else { model.get(&s).copied() };
            assert_eq!(ring.get(s), expected, "second {s}");
        }
    }

    #[test]
    fn a_constant_series_allocates_nothing() {
        let mut ring = Ring::new(1_000, 5);
        for s in 1_001..10_000 {
            ring.push(s, 5, 5);
        }
        assert_eq!(ring.heap_bytes(), 0);
        assert_eq!(ring.get(9_999), Some(5));
        assert_eq!(ring.get(9_999 - 3_599), Some(5));
        assert_eq!(ring.get(9_999 - 3_600), None, "older than an hour");
    }

    #[test]
    fn values_round_trip_through_every_width_and_wrap_around_the_hour() {
        let mut writes = vec![(7_777, 0, 3)];
        let mut s = 7_777;
        for i in 0..9_000u64 {
            s += 1;
            let value = match i % 7 {
                0 => 0,
                1 => 200,
                2 => 60_000,
                3 => 4_000_000_000,
                _ => (i % 300) as u32,
            };
            writes.push((s, 0, value));
        }
        check_against_model(&writes);
    }

    #[test]
    fn gaps_take_the_gap_value_and_an_hour_long_gap_starts_over() {
        check_against_model(&[(100, 0, 1), (101, 0, 2), (150, 7, 9), (400, 3, 4), (401, 0, 0)]);
        check_against_model(&[(100, 0, 1), (5_000, 2, 3), (5_001, 0, 9)]);
        check_against_model(&[(59, 0, 1), (60 + 60 * 3 + 5, 8, 2), (60 * 70, 1, 1)]);
    }

    #[test]
    fn narrow_values_use_narrow_chunks() {
        let mut ring = Ring::new(0, 0);
        for s in 1..3_600 {
            ring.push(s, 0, (s % 200) as u32);
        }
        let chunk_array = std::mem::size_of::<[Chunk; CHUNKS]>();
        assert_eq!(ring.heap_bytes(), chunk_array + POINTS as usize, "one byte a point");
    }
}
