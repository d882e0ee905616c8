//! Ranges in `[faults]`, drawn from the scenario's seed: a value written as two numbers
//! `[low, high]` is one number between them, inclusive, for each seed.
//!
//! ```toml
//! [faults]
//! put_entry_failures = { rate = [0.0, 0.2] }     # a rate from 0 to 0.2
//! kill_worker_after_objects = [5, 40]             # a whole number from 5 to 40
//! ```
//!
//! Integers give an integer, anything else a float rounded to 4 decimals (so the drawn
//! table reads as it is used). Each value is drawn from the seed and its place in the table
//! (`put_entry_failures.rate`), not from a shared stream: adding a fault does not change what
//! the others draw. `minutely scenario NAME --seeds 1..200` runs one draw per seed.

use rand::Rng;

use minutely_aws::rng;

/// `table` with every range replaced by its draw for `seed`, and whether it had any.
pub fn drawn(table: &toml::Table, seed: u64) -> Result<(toml::Table, bool), String> {
    let mut any = false;
    let mut out = toml::Table::new();
    for (key, value) in table {
        out.insert(key.clone(), draw(value, key, seed, &mut any)?);
    }
    Ok((out, any))
}

fn draw(value: &toml::Value, at: &str, seed: u64, any: &mut bool) -> Result<toml::Value, String> {
    use toml::Value;
    Ok(match value {
        Value::Array(pair) if pair.len() == 2 && pair.iter().all(is_number) => {
            *any = true;
            let mut rng = rng::seeded(seed ^ rng::seed_of(at));
            match (&pair[0], &pair[1]) {
                (Value::Integer(lo), Value::Integer(hi)) if lo <= hi => Value::Integer(rng.random_range(*lo..=*hi)),
                (lo, hi) => {
                    let (lo, hi) = (as_f64(lo), as_f64(hi));
                    if lo > hi {
                        return Err(format!("[faults] {at}: the range [{lo}, {hi}] is empty (low above high)"));
                    }
                    Value::Float((rng.random_range(lo..=hi) * 1e4).round() / 1e4)
                }
            }
        }
        Value::Array(pair) if pair.len() == 2 && pair.iter().any(is_number) => {
            return Err(format!("[faults] {at}: a range is two numbers, [low, high]"));
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| draw(v, &format!("{at}[{i}]"), seed, any))
                .collect::<Result<_, _>>()?,
        ),
        Value::Table(t) => Value::Table(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), draw(v, &format!("{at}.{k}"), seed, any)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn is_number(v: &toml::Value) -> bool {
    matches!(v, toml::Value::Integer(_) | toml::Value::Float(_))
}

fn as_f64(v: &toml::Value) -> f64 {
    match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_are_drawn_within_their_bounds_the_same_for_a_seed() {
        let t = table("a = { rate = [0.0, 0.2] }\nb = [5, 40]\nc = 0.5\nd = [{ error_rate = [0.1, 0.3], x = 1 }]");
        let mut rates = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let (d, any) = drawn(&t, seed).unwrap();
            assert!(any);
            assert_eq!(drawn(&t, seed).unwrap().0, d, "the same seed draws the same");
            let rate = d["a"]["rate"].as_float().unwrap();
            assert!((0.0..=0.2).contains(&rate), "{rate}");
            rates.insert((rate * 1e4) as i64);
            let n = d["b"].as_integer().unwrap();
            assert!((5..=40).contains(&n));
            assert_eq!(d["c"].as_float(), Some(0.5), "a plain value is kept");
            let e = d["d"][0]["error_rate"].as_float().unwrap();
            assert!((0.1..=0.3).contains(&e) && d["d"][0]["x"].as_integer() == Some(1));
        }
        assert!(rates.len() > 100, "200 seeds draw many rates: {}", rates.len());
    }

    #[test]
    fn a_fault_added_does_not_move_the_others_draws() {
        let one = drawn(&table("a = [0.0, 1.0]"), 9).unwrap().0;
        let two = drawn(&table("a = [0.0, 1.0]\nb = [0.0, 1.0]"), 9).unwrap().0;
        assert_eq!(one["a"], two["a"]);
    }

    #[test]
    fn empty_and_mixed_ranges_are_refused_by_place() {
        assert_eq!(
            drawn(&table("a = { rate = [0.3, 0.1] }"), 1).unwrap_err(),
            "[faults] a.rate: the range [0.3, 0.1] is empty (low above high)"
        );
        assert!(drawn(&table("a = [1, \"x\"]"), 1).unwrap_err().contains("a range is two numbers"));
        assert!(!drawn(&table("a = 0.5"), 1).unwrap().1, "no range: nothing drawn");
    }
}
