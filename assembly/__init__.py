"""Item assembly: the finished pages of one item become its reading PDF/A, EPUB, texts and archive package."""
