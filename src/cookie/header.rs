//! The inbound `Cookie` header: find the session cookie's values, and rebuild the header
//! without them for the origin.
//!
//! Names are compared byte for byte: no `%`-decoding, no case folding (browsers send
//! them as set), so `session%5Fid` is never read as `session_id`.

/// Every value sent under `name`, in header order (browsers send the most specific
/// path first; duplicates come from cookie tossing or stale domains).
///
/// Linear in the header's length and allocation-free: safe on a 128 KB header.
pub fn values<'h>(header: &'h str, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    pairs(header).filter_map(move |(n, v)| (n == name).then_some(v))
}

/// The header without any pair named in `names`, or `None` when nothing else is left.
/// The other cookies are copied byte for byte (quotes, escapes and nameless values
/// untouched).
#[must_use]
pub fn without(header: &str, names: &[&str]) -> Option<String> {
    let mut out = String::with_capacity(header.len());
    for piece in header.split(';').map(|p| p.trim_matches([' ', '\t'])) {
        if piece.is_empty() || names.contains(&pair(piece).0) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(piece);
    }
    (!out.is_empty()).then_some(out)
}

/// `name=value` pairs, trimmed; a pair without `=` has an empty value. Empty pieces are
/// skipped.
fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header
        .split(';')
        .map(|piece| piece.trim_matches([' ', '\t']))
        .filter(|piece| !piece.is_empty())
        .map(pair)
}

/// One trimmed `name=value` piece; without `=` the value is empty.
fn pair(piece: &str) -> (&str, &str) {
    let (n, v) = piece.split_once('=').unwrap_or((piece, ""));
    (
        n.trim_matches([' ', '\t']),
        trim_quotes(v.trim_matches([' ', '\t'])),
    )
}

fn trim_quotes(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_value_in_order() {
        let h = "a=1; session_id=first;b=2;  session_id=\"second\" ";
        assert_eq!(
            values(h, "session_id").collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert_eq!(values(h, "missing").count(), 0);
    }

    #[test]
    fn names_are_not_percent_decoded_or_case_folded() {
        let h = "session%5Fid=x; Session_Id=y; session_id2=z";
        assert_eq!(values(h, "session_id").count(), 0);
    }

    #[test]
    fn removes_only_the_session_cookie() {
        assert_eq!(
            without("a=1; session_id=x; b=2; session_id=y", &["session_id"]).as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without("session_id=x", &["session_id"]), None);
        assert_eq!(without(" ; ", &["session_id"]), None);
        // Other cookies pass through exactly as sent.
        assert_eq!(
            without(
                r#"messages="a\054b"; session_id=x; flag; e="#,
                &["session_id"]
            )
            .as_deref(),
            Some(r#"messages="a\054b"; flag; e="#)
        );
    }

    #[test]
    fn removes_several_names_in_one_pass() {
        assert_eq!(
            without("sid=1; a=2; sid-pending=3; b=4", &["sid", "sid-pending"]).as_deref(),
            Some("a=2; b=4")
        );
    }

    #[test]
    fn huge_header_is_handled() {
        let mut h = String::new();
        for i in 0..200 {
            h.push_str(&format!("c{i}={}; ", "v".repeat(640)));
        }
        h.push_str("session_id=last");
        assert!(h.len() > 128_000);
        assert_eq!(values(&h, "session_id").collect::<Vec<_>>(), ["last"]);
        assert_eq!(
            without(&h, &["session_id"]).map(|s| s.len()),
            Some(h.len() - "; session_id=last".len())
        );
    }

    /// Property tests (proptest); a failure's seed is kept as in `cookie::full`'s.
    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::{select, subsequence};

        /// Names that collide, and the removed ones among them.
        const NAMES: [&str; 5] = ["sid", "sid-pending", "a", "", "\"sid\""];

        /// One piece between `;`s, with blanks, quotes and stray `=` around the name.
        fn piece() -> impl Strategy<Value = String> {
            let blank = || select(&["", " ", "\t", " \t "][..]);
            let value = select(&["", "=", "=x", "= \"x\" ", "=\"\"", "==", "=a=b", "=\"sid\""][..]);
            (blank(), select(&NAMES[..]), blank(), value, blank())
                .prop_map(|(a, n, b, v, c)| [a, n, b, v, c].concat())
        }

        fn header() -> impl Strategy<Value = String> {
            prop_oneof![
                vec(any::<char>(), 0..200).prop_map(String::from_iter),
                vec(piece(), 0..8).prop_map(|p| p.join(";")),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(5_000))]

            #[test]
            fn parsing_never_panics(h in header(), name in select(&NAMES[..])) {
                for v in values(&h, name) {
                    prop_assert!(!v.contains(';'), "{:?}", v);
                }
            }

            #[test]
            fn without_never_yields_a_removed_name_and_keeps_the_rest(
                h in header(),
                removed in subsequence(NAMES.to_vec(), 0..=NAMES.len()),
            ) {
                let kept: Vec<_> = pairs(&h).filter(|(n, _)| !removed.contains(n)).collect();
                match without(&h, &removed) {
                    None => prop_assert!(kept.is_empty()),
                    Some(out) => {
                        for name in &removed {
                            prop_assert_eq!(values(&out, name).count(), 0, "{}", name);
                        }
                        prop_assert_eq!(pairs(&out).collect::<Vec<_>>(), kept);
                    }
                }
            }
        }
    }
}
