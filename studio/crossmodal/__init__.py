"""跨模态创作: stories, pages, slideshows and text-image alignment."""
