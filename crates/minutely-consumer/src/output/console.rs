//! The console sink's text: one object's counts as a table a person reads, keys in natural
//! order (`c2` before `c10`) and columns aligned.

use std::cmp::Ordering;

use crate::aggregator::CountLine;

/// `a` against `b`, runs of digits compared as numbers: `c2 < c10`, `v1.9 < v1.10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = a.split_at(a.iter().position(|c| !c.is_ascii_digit()).unwrap_or(a.len()));
                let (db, rb) = b.split_at(b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len()));
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                // More significant digits is larger; then digit by digit; then fewer leading zeros first.
                let by_value = ta.len().cmp(&tb.len()).then(ta.cmp(tb)).then(da.len().cmp(&db.len()));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    &digits[zeros..]
}

/// The lines of one object: minute, then each key column, then the count (right-aligned), and
/// `(late)` for a late release; sorted by minute, then key in natural order.
pub fn render(lines: &[CountLine]) -> String {
    let mut rows: Vec<&CountLine> = lines.iter().collect();
    rows.sort_by(|x, y| {
        x.minute.cmp(&y.minute).then_with(|| {
            let keys = x.key.iter().zip(&y.key).map(|(a, b)| natural_cmp(a, b));
            keys.fold(Ordering::Equal, Ordering::then).then(x.key.len().cmp(&y.key.len()))
        })
    });
    let columns = rows.iter().map(|l| l.key.len()).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for l in &rows {
        for (w, k) in widths.iter_mut().zip(&l.key) {
            *w = (*w).max(k.chars().count());
        }
    }
    let count_width = rows.iter().map(|l| l.count.to_string().len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in rows {
        out.push_str(&l.minute);
        for (i, w) in widths.iter().enumerate() {
            let k = l.key.get(i).map_or("", String::as_str);
            out.push_str(&format!("  {k:<w$}"));
        }
        out.push_str(&format!("  {:>count_width$}", l.count));
        if l.late {
            out.push_str("  (late)");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &[&str], count: u64, late: bool) -> CountLine {
        CountLine { minute: "201608211700".into(), key: key.iter().map(|k| k.to_string()).collect(), count, late }
    }

    #[test]
    fn numbers_in_keys_sort_as_numbers() {
        let mut keys = vec!["c10", "c2", "c1", "c02", "b", "c", "v1.10", "v1.9", ""];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, ["", "b", "c", "c1", "c2", "c02", "c10", "v1.9", "v1.10"]);
        assert_eq!(natural_cmp("c2", "c2"), Ordering::Equal);
    }

    #[test]
    fn a_table_sorted_naturally_and_aligned() {
        let lines =
            [line(&["c10", "ios"], 7, false), line(&["c2", "android"], 1234, false), line(&["c1", "web"], 3, true)];
        assert_eq!(
            render(&lines),
            "201608211700  c1   web         3  (late)\n\
             201608211700  c2   android  1234\n\
             201608211700  c10  ios         7\n"
        );
        assert_eq!(render(&[]), "");
    }
}
