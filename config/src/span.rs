//! Byte offsets into the config text, turned into 1-based line and column numbers.

/// Start offsets of every line, so a byte offset maps to (line, column) in O(log n).
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// 1-based line and column (columns count characters, not bytes).
    pub(crate) fn locate(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (to_u32(line + 1), to_u32(column + 1))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn offsets_map_to_one_based_lines_and_character_columns() {
        let index = LineIndex::new("a = 1\nbé = 2\n\nc");
        assert_eq!(index.locate(0), (1, 1));
        assert_eq!(index.locate(4), (1, 5));
        assert_eq!(index.locate(6), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(index.locate(9), (2, 3));
        assert_eq!(index.locate(15), (4, 1));
        assert_eq!(index.locate(999), (4, 2));
    }
}
