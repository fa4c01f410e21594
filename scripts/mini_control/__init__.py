"""The mini ControlNet for mini-shapes: a drawn outline or a picture's Canny edges place the shape."""
