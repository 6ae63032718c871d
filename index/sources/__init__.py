"""Sources: files read into documents of units (markup, HTML pages, sentences, bounded lines)."""
