//! Deterministic synthetic corpora of numbers for the differential test and
//! the benchmark (not used by the proxy).
