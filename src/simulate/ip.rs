//! Client IP addresses: residential pools per country (shared by organic
//! users and by attackers renting residential proxies, which is the point)
//! and a few datacenter ranges for naive bots.

use super::rng::Rng;
use crate::number::Region;

/// A residential address of `region`: one of sixteen /16 networks derived
/// from the region code, host part random. Organic users and residential
/// proxies draw from the same networks.
pub fn residential(region: Region, rng: &mut Rng) -> String {
    let b = region.as_str().as_bytes();
    let base = (b.first().copied().unwrap_or(b'A') as u32) * 31
        + (b.get(1).copied().unwrap_or(b'A') as u32) * 7;
    let net = rng.below(16) as u32;
    let first = 11 + (base + net * 13) % 180;
    let second = (base * 3 + net * 29) % 256;
    format!("{first}.{second}.{}.{}", rng.below(256), 1 + rng.below(254))
}

/// A datacenter address from a handful of hosting ranges.
pub fn datacenter(rng: &mut Rng, pool: u64) -> String {
    const NETS: [&str; 4] = ["185.220.101", "45.155.205", "193.32.162", "104.244.72"];
    let i = rng.below(pool.clamp(1, 4 * 250));
    format!("{}.{}", NETS[(i % 4) as usize], 1 + i / 4)
}
