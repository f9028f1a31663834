//! The Town Lake's rows, generated deterministically from a seed, an anchor date and a scale.
//!
//! Everything derived (hourly and daily rollups, the sampled copy, invoices) is computed from
//! the generated events in memory, so the rollups agree with the events exactly and invoices
//! agree with the rate card exactly (integer cents, rounded half up once per invoice line).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use std::collections::BTreeMap;

/// SplitMix64: tiny, fast and, unlike a crate's generator, guaranteed never to change its
/// sequence under us, which a seeded demo depends on.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub const DAYS: i64 = 35;
const PRIORITIES: [&str; 6] = ["p1", "p2", "p3", "p3", "p4", "p4"];
pub const TIERS: [&str; 4] = ["free", "pro", "business", "enterprise"];
pub const PRODUCTS: [&str; 4] = [
    "workers_requests",
    "r2_class_a_ops",
    "r2_class_b_ops",
    "bytes_egress",
];
const COUNTRIES: [&str; 12] = [
    "US", "GB", "DE", "FR", "JP", "BR", "IN", "AU", "CA", "NL", "SG", "ZA",
];
const FIRST: [&str; 16] = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Luis",
    "Maya", "Nils", "Olga", "Priya",
];
const LAST: [&str; 16] = [
    "Okafor", "Smith", "Nakamura", "Garcia", "Müller", "Dubois", "Silva", "Patel", "Kowalski",
    "Jensen", "Rossi", "Haddad", "Nguyen", "Brown", "Costa", "Ivanova",
];
const NAME_A: [&str; 12] = [
    "Harbor", "Lantern", "Cobalt", "Juniper", "Granite", "Meadow", "Beacon", "Orchid", "Summit",
    "Willow", "Ember", "Tidal",
];
const NAME_B: [&str; 10] = [
    "Labs",
    "Foods",
    "Logistics",
    "Media",
    "Health",
    "Games",
    "Bank",
    "Studio",
    "Retail",
    "Cloud",
];
const STREETS: [&str; 8] = [
    "Main St",
    "Canal Rd",
    "High St",
    "Harbour Way",
    "Elm Ave",
    "Station Rd",
    "King St",
    "Lake Dr",
];
const ASNS: [i64; 10] = [
    7922, 3320, 16509, 15169, 2856, 4134, 9808, 12322, 20940, 6939,
];

#[derive(Debug, Clone)]
pub struct Account {
    pub account_id: i64,
    pub name: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub address: String,
    pub country: String,
    pub plan_tier: String,
    pub created_date: NaiveDate,
    /// Old accounts are still known to some pipelines by this id.
    pub legacy_customer_id: Option<String>,
    activity: f64,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub minute: NaiveDateTime,
    pub account_id: Option<i64>,
    pub legacy_customer_id: Option<String>,
    pub product: &'static str,
    pub asn: i64,
    pub client_country: String,
    pub count: i64,
    /// The account the event belongs to, after the legacy-id translation.
    pub resolved_account: i64,
}

#[derive(Debug, Clone)]
pub struct RateCard {
    pub plan_tier: &'static str,
    pub product: &'static str,
    pub unit: &'static str,
    pub units_per_price: i64,
    pub price_cents: i64,
    pub included_units_per_month: i64,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub invoice_id: String,
    pub account_id: i64,
    pub month: NaiveDate,
    pub product: &'static str,
    pub units: i64,
    pub included_units: i64,
    pub billable_units: i64,
    pub units_per_price: i64,
    pub price_cents: i64,
    pub amount_cents: i64,
    pub status: &'static str,
}

#[derive(Debug, Clone)]
pub struct Ticket {
    pub ticket_id: i64,
    pub account_id: i64,
    pub opened_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub priority: &'static str,
    pub status: &'static str,
    pub subject: String,
    pub body: String,
}

/// The whole lake.
pub struct Lake {
    pub anchor: NaiveDate,
    pub accounts: Vec<Account>,
    pub events: Vec<Event>,
    pub rate_card: Vec<RateCard>,
    pub invoices: Vec<Invoice>,
    pub tickets: Vec<Ticket>,
    /// (hour, account, product) → units
    pub hourly: BTreeMap<(NaiveDateTime, i64, &'static str), i64>,
    /// (day, account, product) → units
    pub daily: BTreeMap<(NaiveDate, i64, &'static str), i64>,
    /// Indexes into `events` of the 1% sample.
    pub sampled: Vec<usize>,
}

pub fn first_day(anchor: NaiveDate) -> NaiveDate {
    anchor - Duration::days(DAYS - 1)
}

pub fn rate_card() -> Vec<RateCard> {
    let mut out = Vec::new();
    for (ti, tier) in TIERS.iter().enumerate() {
        // Higher tiers include more and pay a little less per unit.
        let factor: f64 = [1.0, 1.0, 0.9, 0.8][ti];
        let include = [1, 2, 5, 10][ti] as i64;
        for (product, unit, per, cents, incl) in [
            ("workers_requests", "request", 1_000_000, 30.0, 100_000),
            ("r2_class_a_ops", "operation", 1_000_000, 450.0, 10_000),
            ("r2_class_b_ops", "operation", 1_000_000, 36.0, 100_000),
            ("bytes_egress", "byte", 1_000_000_000, 5.0, 100_000_000),
        ] {
            out.push(RateCard {
                plan_tier: tier,
                product,
                unit,
                units_per_price: per,
                price_cents: (cents * factor).round() as i64,
                included_units_per_month: incl * include,
            });
        }
    }
    out
}

pub fn generate(seed: u64, anchor: NaiveDate, scale: u32) -> Lake {
    let mut rng = Rng::new(seed);
    let n_accounts = 200 * scale as i64;
    let mut accounts = Vec::with_capacity(n_accounts as usize);
    for i in 0..n_accounts {
        let id = 1000 + i;
        let first = *rng.pick(&FIRST);
        let last = *rng.pick(&LAST);
        let company = format!("{} {}", rng.pick(&NAME_A), rng.pick(&NAME_B));
        let name = if i < 120 {
            company
        } else {
            format!("{company} {}", i / 120)
        };
        let tier_roll = rng.unit();
        let plan_tier = if tier_roll < 0.45 {
            "free"
        } else if tier_roll < 0.75 {
            "pro"
        } else if tier_roll < 0.92 {
            "business"
        } else {
            "enterprise"
        };
        let created_date = anchor - Duration::days(10 + rng.below(3 * 365) as i64);
        let old = created_date < anchor - Duration::days(2 * 365);
        let domain: String = name
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        accounts.push(Account {
            account_id: id,
            contact_email: format!(
                "{}.{}@{domain}.example",
                first.to_lowercase(),
                ascii_fold(last).to_lowercase()
            ),
            contact_name: format!("{first} {last}"),
            contact_phone: format!("+1-555-{:03}-{:04}", rng.below(1000), rng.below(10000)),
            address: format!("{} {}", 1 + rng.below(999), rng.pick(&STREETS)),
            country: rng.pick(&COUNTRIES).to_string(),
            plan_tier: plan_tier.to_string(),
            created_date,
            legacy_customer_id: old.then(|| {
                format!(
                    "CUST-{:05}-{}",
                    id * 7 % 100_000,
                    (b'A' + (id % 26) as u8) as char
                )
            }),
            activity: match plan_tier {
                "free" => 0.3,
                "pro" => 1.0,
                "business" => 2.5,
                _ => 6.0,
            } * (0.5 + rng.unit()),
            name,
        });
    }

    let start = first_day(anchor);
    let mut events = Vec::new();
    for d in 0..DAYS {
        let day = start + Duration::days(d);
        for a in &accounts {
            if a.created_date > day {
                continue;
            }
            for (pi, product) in PRODUCTS.iter().enumerate() {
                // Not every account uses every product.
                if (a.account_id as usize + pi) % 3 == 2 {
                    continue;
                }
                let minutes = (a.activity * 4.0 * (0.5 + rng.unit())) as u64;
                for _ in 0..minutes {
                    let minute = day.and_hms_opt(0, 0, 0).expect("midnight")
                        + Duration::minutes(rng.below(1440) as i64);
                    let base: f64 = match *product {
                        "workers_requests" => 5_000.0,
                        "r2_class_a_ops" => 200.0,
                        "r2_class_b_ops" => 2_000.0,
                        _ => 50_000_000.0,
                    };
                    let count =
                        (base * a.activity * (0.2 + 2.0 * rng.unit() * rng.unit())) as i64 + 1;
                    // Old pipelines (R2) still report legacy customer ids.
                    let by_legacy = a.legacy_customer_id.is_some() && product.starts_with("r2_");
                    let client_country = if rng.unit() < 0.7 {
                        a.country.clone()
                    } else {
                        rng.pick(&COUNTRIES).to_string()
                    };
                    events.push(Event {
                        minute,
                        account_id: (!by_legacy).then_some(a.account_id),
                        legacy_customer_id: if by_legacy {
                            a.legacy_customer_id.clone()
                        } else {
                            None
                        },
                        product,
                        asn: *rng.pick(&ASNS),
                        client_country,
                        count,
                        resolved_account: a.account_id,
                    });
                }
            }
        }
    }
    events.sort_by(|x, y| {
        (x.minute, x.resolved_account, x.product).cmp(&(y.minute, y.resolved_account, y.product))
    });

    let mut hourly = BTreeMap::new();
    let mut daily = BTreeMap::new();
    for e in &events {
        let hour = e.minute.with_minute(0).expect("valid");
        *hourly
            .entry((hour, e.resolved_account, e.product))
            .or_insert(0) += e.count;
        *daily
            .entry((e.minute.date(), e.resolved_account, e.product))
            .or_insert(0) += e.count;
    }
    // A deterministic 1% sample: every event whose hash falls in the first percent.
    let sampled: Vec<usize> = (0..events.len())
        .filter(|i| {
            let mut r = Rng::new(seed ^ (*i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            r.below(100) == 0
        })
        .collect();

    let rates = rate_card();
    let tier_of: BTreeMap<i64, &str> = accounts
        .iter()
        .map(|a| (a.account_id, a.plan_tier.as_str()))
        .collect();
    let mut monthly: BTreeMap<(i64, NaiveDate, &'static str), i64> = BTreeMap::new();
    for ((day, account, product), units) in &daily {
        let month = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("valid");
        *monthly.entry((*account, month, product)).or_insert(0) += units;
    }
    let anchor_month = NaiveDate::from_ymd_opt(anchor.year(), anchor.month(), 1).expect("valid");
    let mut invoices = Vec::new();
    for ((account, month, product), units) in monthly {
        let tier = tier_of[&account];
        let rate = rates
            .iter()
            .find(|r| r.plan_tier == tier && r.product == product)
            .expect("every tier prices every product");
        let billable = (units - rate.included_units_per_month).max(0);
        // Exact: integer cents, half up, once per line.
        let num = billable as i128 * rate.price_cents as i128;
        let per = rate.units_per_price as i128;
        let amount_cents = ((2 * num + per) / (2 * per)) as i64;
        invoices.push(Invoice {
            invoice_id: format!(
                "INV-{}-{account}-{}",
                month.format("%Y%m"),
                product_code(product)
            ),
            account_id: account,
            month,
            product,
            units,
            included_units: rate.included_units_per_month,
            billable_units: billable,
            units_per_price: rate.units_per_price,
            price_cents: rate.price_cents,
            amount_cents,
            status: if month < anchor_month {
                "issued"
            } else {
                "open"
            },
        });
    }

    let n_tickets = 300 * scale as i64;
    let mut tickets = Vec::with_capacity(n_tickets as usize);
    for t in 0..n_tickets {
        let a = &accounts[rng.below(accounts.len() as u64) as usize];
        let opened_at = anchor.and_hms_opt(0, 0, 0).expect("midnight")
            - Duration::minutes(rng.below(60 * 24 * 90) as i64);
        let (subject, body) = ticket_text(&mut rng, a);
        let status = *rng.pick(&["open", "pending", "closed", "closed", "closed"]);
        let closed_at = (status == "closed")
            .then(|| opened_at + Duration::minutes(30 + rng.below(60 * 24 * 7) as i64));
        tickets.push(Ticket {
            ticket_id: 50_000 + t,
            account_id: a.account_id,
            opened_at,
            closed_at,
            priority: PRIORITIES[rng.below(PRIORITIES.len() as u64) as usize],
            status,
            subject,
            body,
        });
    }

    Lake {
        anchor,
        accounts,
        events,
        rate_card: rates,
        invoices,
        tickets,
        hourly,
        daily,
        sampled,
    }
}

fn product_code(p: &str) -> &'static str {
    match p {
        "workers_requests" => "WRK",
        "r2_class_a_ops" => "R2A",
        "r2_class_b_ops" => "R2B",
        _ => "EGR",
    }
}

fn ascii_fold(s: &str) -> String {
    s.replace('ü', "u")
}

fn ticket_text(rng: &mut Rng, a: &Account) -> (String, String) {
    let topics = [
        (
            "Invoice looks too high",
            "Our invoice for last month is higher than expected. We think R2 class A operations were double counted. Please check account {id}.",
        ),
        (
            "Workers requests failing",
            "Since yesterday about 2% of Workers requests return 522 errors from {country}. Contact {contact} for logs.",
        ),
        (
            "Upgrade plan",
            "We would like to move from the {tier} plan to a higher tier before the end of the month.",
        ),
        (
            "Egress spike",
            "We saw a spike in bytes egress this week and want to understand which ASN drove it.",
        ),
        (
            "Billing contact change",
            "Please update our billing contact; the current one is {contact} and they have left the company.",
        ),
        (
            "Rate card question",
            "How are included units applied when we change plan in the middle of a month?",
        ),
    ];
    let (subject, body) = rng.pick(&topics);
    (
        subject.to_string(),
        body.replace("{id}", &a.account_id.to_string())
            .replace("{country}", &a.country)
            .replace("{contact}", &a.contact_name)
            .replace("{tier}", &a.plan_tier),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lake_and_rollups_agree() {
        let anchor = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let a = generate(7, anchor, 1);
        let b = generate(7, anchor, 1);
        assert_eq!(a.events.len(), b.events.len());
        assert_eq!(a.events[100].count, b.events[100].count);
        let total: i64 = a.events.iter().map(|e| e.count).sum();
        assert_eq!(total, a.hourly.values().sum::<i64>());
        assert_eq!(total, a.daily.values().sum::<i64>());
        let invoiced: i64 = a.invoices.iter().map(|i| i.units).sum();
        assert_eq!(total, invoiced);
        assert!(a.events.iter().any(|e| e.legacy_customer_id.is_some()));
        assert!(!a.sampled.is_empty() && a.sampled.len() < a.events.len() / 50);
        let c = generate(8, anchor, 1);
        assert_ne!(a.events.len(), c.events.len());
    }

    #[test]
    fn invoice_amounts_round_half_up_in_cents() {
        let anchor = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let lake = generate(1, anchor, 1);
        for i in &lake.invoices {
            let exact = i.billable_units as f64 * i.price_cents as f64 / i.units_per_price as f64;
            assert!((i.amount_cents as f64 - exact).abs() <= 0.5 + 1e-9, "{i:?}");
        }
    }
}
