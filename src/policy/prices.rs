//! The per-country SMS price table (`policies/prices.toml`): what a send
//! costs. The engine weighs it against the user a stop may lose
//! (`[economics]`); a backtest reports money, not just counts.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::number::Region;
use crate::source::SourceError;

/// The table shipped with tollgate, compiled in.
pub const EMBEDDED_PRICES: &str = include_str!("../../policies/prices.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    currency: String,
    default: f64,
    #[serde(default)]
    countries: HashMap<String, f64>,
}

/// Price of one outbound SMS per destination country.
#[derive(Clone, Debug)]
pub struct Prices {
    pub currency: String,
    pub default: f64,
    by_region: HashMap<Region, f64>,
}

impl Prices {
    pub fn build(origin: &Path, text: &str) -> Result<Prices, SourceError> {
        let f: PricesFile =
            toml::from_str(text).map_err(|e| SourceError::toml(origin, text, &e))?;
        let bad = |m: String| SourceError::semantic(origin, m);
        if !(f.default.is_finite() && f.default >= 0.0) {
            return Err(bad(format!("default price {} is not a price", f.default)));
        }
        let mut by_region = HashMap::with_capacity(f.countries.len());
        for (code, price) in f.countries {
            let region = Region::parse(&code)
                .ok_or_else(|| bad(format!("`{code}` is not an ISO 3166 country code")))?;
            if !(price.is_finite() && price >= 0.0) {
                return Err(bad(format!("price {price} for {code} is not a price")));
            }
            by_region.insert(region, price);
        }
        Ok(Prices {
            currency: f.currency,
            default: f.default,
            by_region,
        })
    }

    /// The compiled-in table, parsed once per process: every policy built
    /// without a `prices` file (each reload, each backtest variant) shares
    /// it instead of parsing 250 countries again.
    pub fn embedded() -> Result<Prices, SourceError> {
        static PARSED: std::sync::OnceLock<Result<Prices, SourceError>> =
            std::sync::OnceLock::new();
        PARSED
            .get_or_init(|| Prices::build(Path::new("policies/prices.toml"), EMBEDDED_PRICES))
            .clone()
    }

    pub fn load(path: &Path) -> Result<Prices, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::io(path, e))?;
        Prices::build(path, &text)
    }

    /// The price of one SMS to `region` (the default when unknown).
    pub fn price(&self, region: Option<Region>) -> f64 {
        region
            .and_then(|r| self.by_region.get(&r).copied())
            .unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_loads_and_falls_back_to_default() {
        let p = Prices::embedded().unwrap();
        assert_eq!(p.currency, "USD");
        assert!((p.price(Region::parse("NG")) - 0.319).abs() < 1e-9);
        assert_eq!(p.price(None), p.default);
        assert_eq!(p.price(Region::parse("FJ")), p.default);
    }

    #[test]
    fn bad_tables_are_refused() {
        let e = Prices::build(
            Path::new("p.toml"),
            "currency='USD'\ndefault=0.1\n[countries]\nXYZ=0.1\n",
        );
        assert!(e.is_err());
        let e = Prices::build(Path::new("p.toml"), "currency='USD'\ndefault=-1\n");
        assert!(e.is_err());
        let e = Prices::build(
            Path::new("p.toml"),
            "currency='USD'\ndefault=0.1\nextra=1\n",
        );
        assert!(e.is_err());
    }
}
