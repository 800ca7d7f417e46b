use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Copy, Clone, Debug, Eq, PartialEq, Hash, Default)]
#[cfg_attr(feature = "ser", derive(serde::Deserialize, serde::Serialize))]
pub enum DictionaryType {
    #[default]
    Passwords,
    English,
    FemaleNames,
    MaleNames,
    Surnames,
    UsTvAndFilm,
    UserInputs,
}

/// A ranked word list, sorted at build time (`build.rs` describes the layout): looked up by
/// binary search, with nothing to build at run time. A `HashMap` of the lists took a process's
/// first estimate about 14 ms to build (7 with a cheaper hash), on the request path.
pub(crate) struct Sorted {
    words: &'static [u8],
    blocks: &'static [u8],
    bytes: &'static [u8],
}

/// What a list holds of a word.
pub(crate) struct Found {
    /// The word's 1-based rank, if the list has it.
    pub rank: Option<usize>,
    /// Whether the list has words that start with it and are longer: if not, no longer
    /// substring starting where it does can match either.
    pub longer: bool,
}

impl Sorted {
    fn block(&self, n: usize) -> usize {
        let at = n * 4;
        let bytes = [
            self.blocks[at],
            self.blocks[at + 1],
            self.blocks[at + 2],
            self.blocks[at + 3],
        ];
        u32::from_le_bytes(bytes) as usize
    }

    /// The first word of block `n` (which shares nothing with the one before).
    fn first(&self, n: usize) -> &'static [u8] {
        let at = self.block(n);
        let len = usize::from(self.words[at + 1]);
        &self.words[at + 2..at + 2 + len]
    }

    /// Whether the word at `at`, which follows `word` in the list, starts with it.
    fn starts_with(&self, at: usize, word: &[u8]) -> bool {
        if at >= self.words.len() {
            return false;
        }
        let shared = usize::from(self.words[at]);
        let rest = usize::from(self.words[at + 1]);
        let suffix = &self.words[at + 2..at + 2 + rest];
        word.get(shared..).is_some_and(|tail| suffix.starts_with(tail))
    }

    /// How many blocks start with a word whose first byte is under `b` (0 to 256).
    fn blocks_under(&self, b: usize) -> usize {
        usize::from(u16::from_le_bytes([
            self.bytes[2 * b],
            self.bytes[2 * b + 1],
        ]))
    }

    pub(crate) fn find(&self, word: &str) -> Found {
        let word = word.as_bytes();
        // The blocks whose first word is at most `word`: it can only be in the last of them.
        // Those starting with a smaller byte are, those starting with a larger one are not.
        let (mut low, mut high) = match word.first() {
            Some(&b) => (
                self.blocks_under(usize::from(b)),
                self.blocks_under(usize::from(b) + 1),
            ),
            None => (0, 0),
        };
        while low < high {
            let mid = (low + high) / 2;
            if compare(self.first(mid), word).is_le() {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let mut at = match low {
            0 => {
                let longer = self.blocks.len() >= 4 && self.first(0).starts_with(word);
                return Found { rank: None, longer };
            }
            n => self.block(n - 1),
        };
        // Walks the block's words, decoding none: `matched` is how much of `word` the word
        // before has, and a word's shared count says how it stands against `word` without
        // reading it unless it shares exactly that much.
        let mut matched = 0;
        let not_found = |longer| Found { rank: None, longer };
        while at < self.words.len() {
            let shared = usize::from(self.words[at]);
            let rest = usize::from(self.words[at + 1]);
            let suffix = &self.words[at + 2..at + 2 + rest];
            let rank_at = at + 2 + rest;
            at = rank_at + 2;
            if shared == 0 {
                // The whole word is here (a block's first always is): compare all of it.
                matched = 0;
            }
            match shared.cmp(&matched) {
                // It differs from the one before where that one is under `word`: so is it.
                Ordering::Greater => continue,
                // It differs from the one before within what that one shares with `word`,
                // and upwards: it is past `word`, and so is every word after it.
                Ordering::Less => return not_found(false),
                Ordering::Equal => {}
            }
            let tail = &word[shared..];
            let same = suffix.iter().zip(tail).take_while(|(a, b)| a == b).count();
            if same == suffix.len() && same == tail.len() {
                let rank = u16::from_le_bytes([self.words[rank_at], self.words[rank_at + 1]]);
                let longer = self.starts_with(at, word);
                return Found {
                    rank: Some(usize::from(rank)),
                    longer,
                };
            }
            if same == tail.len() {
                return not_found(true);
            }
            if same == suffix.len() || suffix[same] < tail[same] {
                matched = shared + same;
                continue;
            }
            return not_found(false);
        }
        not_found(false)
    }
}

/// Byte order, inline: the words are a few bytes long, and a call to `memcmp` for each
/// comparison was most of what a lookup cost.
#[inline]
fn compare(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

macro_rules! sorted {
    ($list:literal) => {
        Sorted {
            words: include_bytes!(concat!(env!("OUT_DIR"), "/", $list, ".words")),
            blocks: include_bytes!(concat!(env!("OUT_DIR"), "/", $list, ".blocks")),
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/", $list, ".bytes")),
        }
    };
}

static PASSWORDS: Sorted = sorted!("passwords");
static ENGLISH_WIKI: Sorted = sorted!("english_wiki");
static FEMALE_NAMES: Sorted = sorted!("female_names");
static MALE_NAMES: Sorted = sorted!("male_names");
static SURNAMES: Sorted = sorted!("surnames");
static US_TV_AND_FILM: Sorted = sorted!("us_tv_and_film");

/// The lists by name, in a `HashMap` as upstream has them: matching walks them in its
/// iteration order, which breaks exact ties (FORK.md).
pub(crate) static RANKED_DICTIONARIES: LazyLock<HashMap<DictionaryType, &'static Sorted>> =
    LazyLock::new(|| {
        HashMap::from([
            (DictionaryType::Passwords, &PASSWORDS),
            (DictionaryType::English, &ENGLISH_WIKI),
            (DictionaryType::FemaleNames, &FEMALE_NAMES),
            (DictionaryType::MaleNames, &MALE_NAMES),
            (DictionaryType::Surnames, &SURNAMES),
            (DictionaryType::UsTvAndFilm, &US_TV_AND_FILM),
        ])
    });

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(list: &str) -> Vec<(String, usize)> {
        let path = format!("{}/data/{list}.txt", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        text.trim_end()
            .split(',')
            .enumerate()
            .map(|(i, w)| (w.to_owned(), i + 1))
            .collect()
    }

    #[test]
    fn every_word_of_every_list_is_found_with_its_rank_and_nothing_else_is() {
        let lists = [
            ("passwords", &PASSWORDS),
            ("english_wiki", &ENGLISH_WIKI),
            ("female_names", &FEMALE_NAMES),
            ("male_names", &MALE_NAMES),
            ("surnames", &SURNAMES),
            ("us_tv_and_film", &US_TV_AND_FILM),
        ];
        for (name, sorted) in lists {
            let words = upstream(name);
            let ranks: HashMap<&str, usize> = words.iter().map(|(w, r)| (w.as_str(), *r)).collect();
            // What a longer word of the list starts with.
            let starts: std::collections::HashSet<&str> = words
                .iter()
                .flat_map(|(w, _)| {
                    (0..w.len())
                        .filter(|&n| w.is_char_boundary(n))
                        .map(|n| &w[..n])
                })
                .collect();
            // Every word, every prefix of it, and words just beside it in byte order.
            let mut probes: Vec<String> = ["", "a", "zzzzzzzzzz", "~", "\u{0}", "é", "pass"]
                .map(String::from)
                .to_vec();
            for (word, _) in &words {
                probes.extend(starts_of(word));
                probes.push(format!("{word}~"));
                probes.push(format!("{word}a"));
                probes.push(format!("~{word}"));
            }
            for probe in &probes {
                let found = sorted.find(probe);
                assert_eq!(
                    found.rank,
                    ranks.get(probe.as_str()).copied(),
                    "{name}: {probe:?}"
                );
                assert_eq!(
                    found.longer,
                    starts.contains(probe.as_str()),
                    "{name}: {probe:?}"
                );
            }
        }
    }

    fn starts_of(word: &str) -> impl Iterator<Item = String> + '_ {
        (0..=word.len())
            .filter(|&n| word.is_char_boundary(n))
            .map(|n| word[..n].to_owned())
    }
}
