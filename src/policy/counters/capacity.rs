//! How many keys the counter families hold: the bound on their memory.

/// Sizes of the families (keys), bounded by construction.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    pub numbers: usize,
    pub aggregates: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            numbers: 1 << 21,
            aggregates: 1 << 19,
        }
    }
}

/// A capacity out of the range a table can be built with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`[state] {field} = {value}`: a table holds {} to {} keys",
    Capacity::MIN,
    Capacity::MAX
)]
pub struct CapacityError {
    pub field: &'static str,
    pub value: usize,
}

impl Capacity {
    /// Fewest keys of a family: 64 keys a shard. Below that a family would
    /// forget a busy hour's ranges within minutes.
    pub const MIN: usize = 1 << 12;
    /// Most keys of a family: 2^26 numbers are about 5 GB of tables.
    pub const MAX: usize = 1 << 26;

    /// Checked capacities (`[state]` in the serve config).
    pub fn new(numbers: usize, aggregates: usize) -> Result<Capacity, CapacityError> {
        for (field, value) in [("numbers", numbers), ("aggregates", aggregates)] {
            if !(Self::MIN..=Self::MAX).contains(&value) {
                return Err(CapacityError { field, value });
            }
        }
        Ok(Capacity {
            numbers,
            aggregates,
        })
    }
}
