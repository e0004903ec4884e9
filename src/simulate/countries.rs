//! The organic country mix of a global platform, and the attackers' target
//! lists. Numbers here are assumptions of the simulation, chosen to look like
//! a large consumer app: a long tail of countries, verification rates of
//! 60–90% (lower where delivery is poor), local-time peaks.

use crate::number::Region;

/// One country the platform serves.
#[derive(Clone, Copy, Debug)]
pub struct Country {
    pub code: &'static str,
    /// Relative share of verification sessions.
    pub share: f64,
    /// Offset from UTC in hours (standard time; DST is ignored).
    pub utc_offset: f64,
    /// Share of sessions that end in a verified code.
    pub conversion: f64,
    /// Probability that one send is not received and the user asks again.
    pub failure: f64,
}

const fn c(
    code: &'static str,
    share: f64,
    utc_offset: f64,
    conversion: f64,
    failure: f64,
) -> Country {
    Country {
        code,
        share,
        utc_offset,
        conversion,
        failure,
    }
}

/// 45 countries.
pub const ORGANIC: &[Country] = &[
    c("US", 14.0, -5.0, 0.85, 0.04),
    c("IN", 10.0, 5.5, 0.72, 0.10),
    c("BR", 7.0, -3.0, 0.78, 0.07),
    c("ID", 5.0, 7.0, 0.65, 0.12),
    c("MX", 4.0, -6.0, 0.77, 0.07),
    c("GB", 4.0, 0.0, 0.87, 0.03),
    c("DE", 3.0, 1.0, 0.88, 0.03),
    c("FR", 3.0, 1.0, 0.86, 0.03),
    c("NG", 3.0, 1.0, 0.60, 0.15),
    c("PH", 3.0, 8.0, 0.66, 0.12),
    c("TR", 2.5, 3.0, 0.78, 0.06),
    c("VN", 2.0, 7.0, 0.70, 0.10),
    c("EG", 2.0, 2.0, 0.64, 0.12),
    c("PK", 2.0, 5.0, 0.62, 0.14),
    c("ES", 2.0, 1.0, 0.85, 0.03),
    c("IT", 2.0, 1.0, 0.84, 0.04),
    c("CA", 2.0, -5.0, 0.86, 0.04),
    c("BD", 1.5, 6.0, 0.60, 0.15),
    c("PL", 1.5, 1.0, 0.84, 0.04),
    c("AR", 1.5, -3.0, 0.76, 0.07),
    c("CO", 1.5, -5.0, 0.75, 0.08),
    c("TH", 1.5, 7.0, 0.75, 0.08),
    c("JP", 1.5, 9.0, 0.90, 0.02),
    c("AU", 1.5, 10.0, 0.87, 0.03),
    c("ZA", 1.2, 2.0, 0.74, 0.08),
    c("MY", 1.2, 8.0, 0.78, 0.06),
    c("SA", 1.2, 3.0, 0.76, 0.07),
    c("UA", 1.0, 2.0, 0.72, 0.08),
    c("PE", 1.0, -5.0, 0.72, 0.09),
    c("CL", 1.0, -4.0, 0.78, 0.06),
    c("KE", 1.0, 3.0, 0.68, 0.11),
    c("AE", 1.0, 4.0, 0.80, 0.05),
    c("KR", 1.0, 9.0, 0.90, 0.02),
    c("NL", 1.0, 1.0, 0.88, 0.03),
    c("MA", 0.8, 1.0, 0.68, 0.10),
    c("GH", 0.6, 0.0, 0.63, 0.13),
    c("SE", 0.6, 1.0, 0.89, 0.02),
    c("RO", 0.6, 2.0, 0.80, 0.05),
    c("DZ", 0.5, 1.0, 0.62, 0.13),
    c("KZ", 0.5, 5.0, 0.70, 0.09),
    c("SG", 0.5, 8.0, 0.88, 0.03),
    c("LK", 0.4, 5.5, 0.66, 0.11),
    c("IQ", 0.4, 3.0, 0.60, 0.14),
    c("NZ", 0.4, 12.0, 0.87, 0.03),
    c("NP", 0.3, 5.75, 0.62, 0.14),
];

/// Countries a new-market launch may pick: small, so a launch is a country
/// the platform has (almost) no history for.
pub const LAUNCH_CANDIDATES: &[&str] = &["KE", "GH", "LK", "NP", "PE", "MA", "NZ", "DZ"];

/// Served countries whose traffic is worth pumping (expensive termination):
/// where blending campaigns hide.
pub const SERVED_HIGH_COST: &[&str] = &[
    "NG", "ID", "PK", "BD", "EG", "LK", "NP", "IQ", "UA", "KZ", "PH", "GH", "KE", "DZ", "MA",
];

/// Expensive destinations the platform does not serve (or barely): the
/// classic pumping corridors.
pub const UNSERVED_HIGH_COST: &[&str] = &[
    "AZ", "UZ", "KG", "TJ", "MM", "LA", "KH", "SL", "GN", "TD", "CD", "BJ", "CM", "SN", "MR", "LV",
    "EE", "LT", "MV", "TL", "PG",
];

/// The region of a code from the tables above (all valid).
pub fn region(code: &str) -> Option<Region> {
    Region::parse(code)
}

/// Relative activity by local hour (a consumer app: quiet at night, evening
/// peak), averaged to 1 over the day.
const DIURNAL: [f64; 24] = [
    0.30, 0.18, 0.11, 0.08, 0.08, 0.12, 0.30, 0.60, 0.90, 1.10, 1.20, 1.25, 1.30, 1.30, 1.25, 1.20,
    1.20, 1.30, 1.45, 1.60, 1.60, 1.40, 1.00, 0.60,
];

/// Activity at a local time of day (hours, fractional), interpolated.
pub fn diurnal(local_hour: f64) -> f64 {
    let h = local_hour.rem_euclid(24.0);
    let i = h.floor() as usize % 24;
    let j = (i + 1) % 24;
    let f = h - h.floor();
    let mean: f64 = DIURNAL.iter().sum::<f64>() / 24.0;
    (DIURNAL[i] * (1.0 - f) + DIURNAL[j] * f) / mean
}

/// Activity by local weekday (0 = Monday).
pub fn weekly(weekday: i64) -> f64 {
    match weekday.rem_euclid(7) {
        5 => 0.90,
        6 => 0.85,
        _ => 1.03,
    }
}
