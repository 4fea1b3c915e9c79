//! Text measured the way Telegram measures it: in UTF-16 code units.

/// Length of `s` in UTF-16 code units, the unit of Telegram's text limits and entity offsets.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_utf16_units() {
        assert_eq!(super::utf16_len("abc"), 3);
        assert_eq!(super::utf16_len("é"), 1);
        assert_eq!(super::utf16_len("👍"), 2);
    }
}
