//! What several benchmarks read the same way (included with `#[path]`;
//! not a benchmark of its own). Each benchmark uses only some of it.
#![allow(dead_code)]

/// Resident set size of this process, in bytes (`/proc/self/statm`; 0 where
/// it cannot be read).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// A numeric setting from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
