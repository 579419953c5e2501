//! Risk levels from exposure shares: documented defaults, overridable per
//! category with a JSON file (`--risk-config`). Thresholds are in basis
//! points of what the address received and compare exactly, in integers:
//! a category reaches a level when `amount * 10000 >= bps * received`.

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A risk level, from none to severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No exposure.
    None,
    /// Some exposure below every other threshold.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Severe.
    Severe,
}

/// The share (basis points) at which a category's exposure reaches each
/// level; a missing level is never reached by that category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Low.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<u32>,
    /// Medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<u32>,
    /// High.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<u32>,
    /// Severe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severe: Option<u32>,
}

/// Thresholds per category; `default` serves categories not named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskConfig {
    /// Per category.
    pub categories: BTreeMap<String, Thresholds>,
    /// For any other category.
    pub default: Thresholds,
}

fn t(low: Option<u32>, medium: Option<u32>, high: Option<u32>, severe: Option<u32>) -> Thresholds {
    Thresholds { low, medium, high, severe }
}

impl Default for RiskConfig {
    /// The defaults of docs/screening.md: any sanctioned or terrorism
    /// exposure is high, 10% severe; stolen funds (hack, ransomware,
    /// darknet) medium from 1%, high from 10%, severe from 50%; phishing,
    /// scams and mixers medium from 5%, high from 25%; anything else low.
    fn default() -> Self {
        let mut c = BTreeMap::new();
        for k in ["sanctioned", "terrorism"] {
            c.insert(k.to_string(), t(Some(0), Some(0), Some(0), Some(1_000)));
        }
        for k in ["hack", "ransomware", "darknet"] {
            c.insert(k.to_string(), t(Some(0), Some(100), Some(1_000), Some(5_000)));
        }
        for k in ["phishing", "scam", "mixer"] {
            c.insert(k.to_string(), t(Some(0), Some(500), Some(2_500), None));
        }
        RiskConfig { categories: c, default: t(Some(0), Some(1_000), Some(5_000), None) }
    }
}

impl RiskConfig {
    /// Read a JSON file of the shape of [`RiskConfig`]; categories it names
    /// replace the defaults' thresholds, `default` (if given) replaces the
    /// default.
    pub fn from_json(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Partial {
            #[serde(default)]
            categories: BTreeMap<String, Thresholds>,
            default: Option<Thresholds>,
        }
        let p: Partial = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut c = RiskConfig::default();
        // Every threshold, the default's too, is a share: at most 10000 basis points.
        let check = |at: &str, v: &Thresholds| -> Result<(), String> {
            for (name, bps) in [("low", v.low), ("medium", v.medium), ("high", v.high), ("severe", v.severe)] {
                if let Some(b) = bps.filter(|&b| b > 10_000) {
                    return Err(format!("{at}.{name}: {b} basis points is more than 100%"));
                }
            }
            Ok(())
        };
        for (k, v) in p.categories {
            check(&format!("categories.{k}"), &v)?;
            c.categories.insert(k.to_ascii_lowercase(), v);
        }
        if let Some(d) = p.default {
            check("default", &d)?;
            c.default = d;
        }
        Ok(c)
    }

    /// The level one category's exposure reaches.
    pub fn level(&self, category: &str, amount: u128, received: u128) -> Level {
        if amount == 0 {
            return Level::None;
        }
        let th = self.categories.get(category).unwrap_or(&self.default);
        let reaches =
            |bps: Option<u32>| bps.is_some_and(|b| U256::from(amount) * U256::from(10_000u32) >= U256::from(b) * U256::from(received));
        if reaches(th.severe) {
            Level::Severe
        } else if reaches(th.high) {
            Level::High
        } else if reaches(th.medium) {
            Level::Medium
        } else if reaches(th.low) {
            Level::Low
        } else {
            Level::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = RiskConfig::default();
        assert_eq!(c.level("sanctioned", 1, 1_000_000), Level::High);
        assert_eq!(c.level("sanctioned", 100, 1_000), Level::Severe);
        assert_eq!(c.level("hack", 9, 1_000), Level::Low);
        assert_eq!(c.level("hack", 10, 1_000), Level::Medium);
        assert_eq!(c.level("hack", 500, 1_000), Level::Severe);
        assert_eq!(c.level("mixer", 999, 1_000), Level::High);
        assert_eq!(c.level("exchange", 999, 1_000), Level::High);
        assert_eq!(c.level("hack", 0, 1_000), Level::None);
        // Exact at the edge: 1% of 10^30 wei.
        assert_eq!(c.level("hack", 10u128.pow(28), 10u128.pow(30)), Level::Medium);
        assert_eq!(c.level("hack", 10u128.pow(28) - 1, 10u128.pow(30)), Level::Low);
    }

    #[test]
    fn overrides() {
        let c = RiskConfig::from_json(r#"{"categories": {"Mixer": {"low": 0, "severe": 100}}}"#).unwrap();
        assert_eq!(c.level("mixer", 1, 100), Level::Severe);
        assert_eq!(c.level("mixer", 1, 1_000), Level::Low);
        assert!(RiskConfig::from_json(r#"{"categories": {"mixer": {"hgh": 1}}}"#).is_err());
        assert!(RiskConfig::from_json(r#"{"categories": {"mixer": {"high": 20000}}}"#).is_err());
    }

    #[test]
    fn default_thresholds_above_100_percent_are_refused() {
        let e = RiskConfig::from_json(r#"{"default": {"low": 0, "high": 10001}}"#).unwrap_err();
        assert_eq!(e, "default.high: 10001 basis points is more than 100%");
        let e = RiskConfig::from_json(r#"{"categories": {"mixer": {"low": 0}}, "default": {"severe": 4294967295}}"#).unwrap_err();
        assert!(e.starts_with("default.severe: "), "{e}");
        // 100% itself is a share, and a default that is in range replaces the default.
        let c = RiskConfig::from_json(r#"{"default": {"low": 0, "severe": 10000}}"#).unwrap();
        assert_eq!(c.default, t(Some(0), None, None, Some(10_000)));
        assert_eq!(c.level("exchange", 1_000, 1_000), Level::Severe);
        assert_eq!(c.level("exchange", 999, 1_000), Level::Low);
    }
}
