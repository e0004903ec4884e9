//! Organic OTP traffic: verification sessions arriving per country at the
//! local diurnal and weekly rhythm, with resends, conversion delays,
//! returning users and the legitimate surprises a real platform has (a
//! marketing push, a new-market launch). This is what the policy must not
//! stop.

use std::sync::Arc;

use super::countries::{self, Country, LAUNCH_CANDIDATES, ORGANIC};
use super::event::{Label, SimEvent, SimKind};
use super::ip;
use super::plans::{Block, Kind, Plans};
use super::rng::Rng;
use crate::clock::Timestamp;
use crate::number::Region;

const MINUTE: i64 = 60_000;
const DAY_MIN: i64 = 1440;

/// A marketing push: one country, some hours, a multiplier.
#[derive(Clone, Debug)]
pub struct Push {
    pub country: usize,
    pub start_min: i64,
    pub end_min: i64,
    pub factor: f64,
}

/// A new market: absent before `start_min`, ramping to its share over
/// `ramp_min`, with a launch-day spike.
#[derive(Clone, Debug)]
pub struct Launch {
    pub country: usize,
    pub start_min: i64,
    pub ramp_min: i64,
}

/// The organic traffic model of one run.
#[derive(Clone, Debug)]
pub struct Organic {
    pub start: Timestamp,
    pub days: u32,
    /// Verification sessions per day across all countries.
    pub daily_sessions: f64,
    pub countries: Vec<(Country, Region)>,
    pub pushes: Vec<Push>,
    pub launch: Option<Launch>,
    /// Day-to-day noise per country (log-normal factors).
    day_noise: Vec<Vec<f64>>,
}

impl Organic {
    /// Draws the run's surprises from the seed's own stream.
    pub fn new(
        seed: u64,
        start: Timestamp,
        days: u32,
        daily_sessions: f64,
        surprises: bool,
    ) -> Organic {
        let mut rng = Rng::stream(seed, "organic:shape");
        let countries: Vec<(Country, Region)> = ORGANIC
            .iter()
            .filter_map(|c| countries::region(c.code).map(|r| (*c, r)))
            .collect();
        let day_noise = countries
            .iter()
            .map(|_| (0..days + 1).map(|_| rng.lognormal(1.0, 0.08)).collect())
            .collect();
        let total_min = days as i64 * DAY_MIN;
        let mut pushes = Vec::new();
        let mut launch = None;
        if surprises && days >= 2 {
            let n = 1 + rng.below(2) as usize;
            for _ in 0..n {
                // A mid-size country (share 0.8–4).
                let mid: Vec<usize> = (0..countries.len())
                    .filter(|&i| (0.8..=4.0).contains(&countries[i].0.share))
                    .collect();
                let Some(&ci) = rng.pick(&mid) else { break };
                let day = rng.range(1, days as i64 - 1);
                let local_start = rng.range(9, 17) as f64;
                let start_min =
                    day * DAY_MIN + ((local_start - countries[ci].0.utc_offset) * 60.0) as i64;
                let hours = rng.range(2, 6);
                pushes.push(Push {
                    country: ci,
                    start_min: start_min.clamp(0, total_min),
                    end_min: (start_min + hours * 60).clamp(0, total_min),
                    factor: 5.0 + rng.f64() * 5.0,
                });
            }
            let cand: Vec<usize> = (0..countries.len())
                .filter(|&i| LAUNCH_CANDIDATES.contains(&countries[i].0.code))
                .collect();
            if let Some(&ci) = rng.pick(&cand) {
                let day = rng.range(1, (days as i64 - 2).max(1));
                launch = Some(Launch {
                    country: ci,
                    start_min: day * DAY_MIN + ((9.0 - countries[ci].0.utc_offset) * 60.0) as i64,
                    ramp_min: 2 * DAY_MIN,
                });
            }
        }
        Organic {
            start,
            days,
            daily_sessions,
            countries,
            pushes,
            launch,
            day_noise,
        }
    }

    fn total_share(&self) -> f64 {
        self.countries.iter().map(|(c, _)| c.share).sum()
    }

    /// Expected sessions per minute for country `i` at minute `m` of the run,
    /// without surprises: the platform's usual shape, which blending attacks
    /// copy.
    pub fn base_rate(&self, i: usize, m: i64) -> f64 {
        let Some((c, _)) = self.countries.get(i) else {
            return 0.0;
        };
        let utc_min = self.start.millis().div_euclid(MINUTE) + m;
        let local_min = utc_min as f64 + c.utc_offset * 60.0;
        let local_hour = (local_min / 60.0).rem_euclid(24.0);
        // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
        let weekday = ((local_min / 1440.0).floor() as i64 + 3).rem_euclid(7);
        let day = (m / DAY_MIN).clamp(0, self.days as i64) as usize;
        let noise = self.day_noise[i].get(day).copied().unwrap_or(1.0);
        self.daily_sessions / 1440.0 * c.share / self.total_share()
            * countries::diurnal(local_hour)
            * countries::weekly(weekday)
            * noise
    }

    /// Expected sessions per minute with the run's surprises applied.
    pub fn rate(&self, i: usize, m: i64) -> f64 {
        let mut r = self.base_rate(i, m);
        if let Some(l) = &self.launch {
            if l.country == i {
                if m < l.start_min {
                    return 0.0;
                }
                let ramp = ((m - l.start_min) as f64 / l.ramp_min as f64).min(1.0);
                let spike = if m - l.start_min < 6 * 60 { 3.0 } else { 1.0 };
                r *= (0.15 + 0.85 * ramp) * spike;
            }
        }
        for p in &self.pushes {
            if p.country == i && (p.start_min..p.end_min).contains(&m) {
                r *= p.factor;
            }
        }
        r
    }
}

/// A user the platform has verified before.
#[derive(Clone)]
struct User {
    number: Arc<str>,
    ip: Arc<str>,
    device: Arc<str>,
}

/// The platform's services, each with its own account id.
pub struct Accounts {
    pub signup: Arc<str>,
    pub login: Arc<str>,
    pub checkout: Arc<str>,
    pub partner: Arc<str>,
}

impl Accounts {
    /// Fixed across seeds: the same platform in every run.
    pub fn new() -> Accounts {
        let mut rng = Rng::stream(0, "accounts");
        let mut sid = || -> Arc<str> { format!("AC{}", rng.hex(32)).into() };
        Accounts {
            signup: sid(),
            login: sid(),
            checkout: sid(),
            partner: sid(),
        }
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new()
    }
}

/// Generates the organic events of a run (unordered).
pub fn generate(model: &Organic, plans: &Plans, accounts: &Accounts, seed: u64) -> Vec<SimEvent> {
    let mut rng = Rng::stream(seed, "organic:traffic");
    let mut out = Vec::new();
    let n = model.countries.len();
    let blocks: Vec<&[Block]> = model
        .countries
        .iter()
        .map(|(_, r)| plans.blocks(*r, Kind::Mobile))
        .collect();
    // Existing users, seeded so that day one already has returning users.
    let mut pools: Vec<Vec<User>> = (0..n)
        .map(|i| {
            let size = (model.daily_sessions * model.countries[i].0.share / model.total_share()
                * 1.5) as usize;
            (0..size)
                .filter_map(|_| new_user(&mut rng, blocks[i], model.countries[i].1))
                .collect()
        })
        .collect();
    let total_min = model.days as i64 * DAY_MIN;
    for m in 0..total_min {
        for i in 0..n {
            let k = rng.poisson(model.rate(i, m));
            for _ in 0..k {
                let t0 = model.start.millis() + m * MINUTE + rng.below(MINUTE as u64) as i64;
                let (country, region) = model.countries[i];
                let returning = !pools[i].is_empty() && rng.chance(0.5);
                let user = if returning {
                    let j = rng.below(pools[i].len() as u64) as usize;
                    pools[i][j].clone()
                } else {
                    match new_user(&mut rng, blocks[i], region) {
                        Some(u) => u,
                        None => continue,
                    }
                };
                let account = if returning {
                    match rng.below(10) {
                        0..=6 => &accounts.login,
                        7..=8 => &accounts.checkout,
                        _ => &accounts.partner,
                    }
                } else if rng.chance(0.9) {
                    &accounts.signup
                } else {
                    &accounts.partner
                };
                let converted = session(&mut rng, &mut out, t0, &country, region, &user, account);
                if converted && !returning {
                    pools[i].push(user);
                }
            }
        }
    }
    out
}

fn new_user(rng: &mut Rng, blocks: &[Block], region: Region) -> Option<User> {
    let block = rng.pick(blocks)?;
    Some(User {
        number: block.number(rng).into(),
        ip: ip::residential(region, rng).into(),
        device: rng.hex(16).into(),
    })
}

/// One verification session: sends (with resends when the code does not
/// arrive or the user is impatient) and maybe a conversion. Returns whether
/// the user verified.
fn session(
    rng: &mut Rng,
    out: &mut Vec<SimEvent>,
    t0: i64,
    country: &Country,
    region: Region,
    user: &User,
    account: &Arc<str>,
) -> bool {
    // Probability of verifying once a code arrived, so that the session
    // conversion rate is the country's.
    let reach = 1.0 - country.failure.powi(3);
    let p_verify = (country.conversion / reach).min(0.99);
    let mut t = t0;
    let mut delivered = false;
    // Some users change network between attempts.
    let ip = if rng.chance(0.8) {
        user.ip.clone()
    } else {
        ip::residential(region, rng).into()
    };
    for attempt in 0..3 {
        if attempt > 0 {
            t += rng.range(30_000, 90_000);
        }
        out.push(SimEvent {
            ts: Timestamp(t),
            kind: SimKind::Send,
            id: String::new(),
            to: user.number.clone(),
            account: Some(account.clone()),
            client_ip: Some(ip.clone()),
            device: Some(user.device.clone()),
            label: Label::Organic,
            region,
        });
        if !rng.chance(country.failure) {
            delivered = true;
            // Impatient users ask again even when the code is on its way.
            if attempt == 0 && rng.chance(0.03) {
                continue;
            }
            break;
        }
    }
    if delivered && rng.chance(p_verify) {
        let delay = rng.lognormal(25_000.0, 0.9).clamp(4_000.0, 900_000.0) as i64;
        out.push(SimEvent {
            ts: Timestamp(t + delay),
            kind: SimKind::Conversion,
            id: String::new(),
            to: user.number.clone(),
            account: None,
            client_ip: None,
            device: None,
            label: Label::Organic,
            region,
        });
        return true;
    }
    false
}
