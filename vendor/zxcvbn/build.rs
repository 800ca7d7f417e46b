//! Turns zxcvbn's ranked word lists (`data/*.txt`: upstream's, comma-separated, most common
//! first) into the sorted tables `src/frequency_lists.rs` searches, so that no process builds
//! a map of them at run time.
//!
//! Each list becomes three files in `OUT_DIR`. `<list>.words`: its words in byte order, each as
//! `[bytes shared with the word before: u8][length of the rest: u8][the rest][rank: u16 LE]`,
//! where every `BLOCK`th word starts a block and shares nothing, so it can be read on its own.
//! `<list>.blocks`: where each block starts in `<list>.words`, as u32 LE. `<list>.bytes`: for
//! each byte value `b` from 0 to 256, how many blocks start with a word whose first byte is
//! under `b`, as u16 LE, so a search starts among the blocks of its word's first byte.

use std::path::PathBuf;

/// Words per block: a lookup reads one block's words after a binary search over blocks.
const BLOCK: usize = 16;

const LISTS: [&str; 6] = [
    "passwords",
    "english_wiki",
    "female_names",
    "male_names",
    "surnames",
    "us_tv_and_film",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for list in LISTS {
        let path = format!("data/{list}.txt");
        println!("cargo:rerun-if-changed={path}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (words, blocks, firsts) = encode(&text);
        for (ext, bytes) in [("words", words), ("blocks", blocks), ("bytes", firsts)] {
            let file = out.join(format!("{list}.{ext}"));
            std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
}

fn encode(text: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut ranked: Vec<(&[u8], u16)> = text
        .trim_end()
        .split(',')
        .enumerate()
        .map(|(i, word)| {
            let rank = u16::try_from(i + 1).expect("a list has at most 65,535 words");
            (word.as_bytes(), rank)
        })
        .collect();
    ranked.sort_unstable();
    let (mut words, mut blocks, mut block_firsts) = (Vec::new(), Vec::new(), Vec::new());
    let mut previous: &[u8] = &[];
    for (n, &(word, rank)) in ranked.iter().enumerate() {
        // Upstream's map would keep a repeated word's last rank; the lists repeat none.
        assert!(n == 0 || word != previous, "a list repeats {word:?}");
        let shared = if n % BLOCK == 0 {
            let start = u32::try_from(words.len()).expect("a list is under 4 GiB");
            blocks.extend(start.to_le_bytes());
            block_firsts.push(*word.first().expect("the lists hold no empty word"));
            0
        } else {
            previous
                .iter()
                .zip(word)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let rest = &word[shared..];
        words.push(u8::try_from(shared).expect("words are under 256 bytes"));
        words.push(u8::try_from(rest.len()).expect("words are under 256 bytes"));
        words.extend(rest);
        words.extend(rank.to_le_bytes());
        previous = word;
    }
    let firsts = (0..=256)
        .flat_map(|b| {
            let under = block_firsts
                .iter()
                .filter(|&&first| u16::from(first) < b)
                .count();
            u16::try_from(under)
                .expect("a list has at most 65,535 words")
                .to_le_bytes()
        })
        .collect();
    (words, blocks, firsts)
}
