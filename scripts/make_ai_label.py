"""Render the explicit "AI生成" label once, so the studio can stamp it without a CJK font installed.

    python -m scripts.make_ai_label /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc assets/label/ai-label.png
"""
import argparse

from PIL import Image, ImageDraw, ImageFont


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("font", help="a font with CJK glyphs (e.g. Noto Sans CJK)")
    p.add_argument("out")
    p.add_argument("--text", default="AI生成")
    p.add_argument("--height", type=int, default=64)
    args = p.parse_args()
    font = ImageFont.truetype(args.font, int(args.height * 0.62), index=2)  # .ttc index 2: the SC face
    left, top, right, bottom = font.getbbox(args.text)
    pad = args.height // 4
    image = Image.new("RGBA", (right - left + 2 * pad, args.height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=args.height // 5, fill=(0, 0, 0, 150))
    draw.text((pad - left, (args.height - (bottom - top)) / 2 - top), args.text, font=font, fill=(255, 255, 255, 235))
    image.save(args.out, optimize=True)


if __name__ == "__main__":
    main()
