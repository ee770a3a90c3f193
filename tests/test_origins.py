"""The benchmark's registry origins: what is written from a package's files (the fetch itself needs the network)."""

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests.conftest import benchmark_module


def _origins():
    return benchmark_module("origins")


def _half_transparent(path: Path, size: tuple[int, int], colour=(200, 0, 0, 255)) -> None:
    """An image whose left half is `colour` and right half transparent black."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (size[0] // 2, size[1]), colour), (0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _emoji_package(root: Path, style: str, emoji: list[dict]) -> Path:
    package = root / style / "package"
    (package / "img" / style / "64").mkdir(parents=True)
    (package / "emoji.json").write_text(json.dumps(emoji))
    for item in emoji:
        if item[f"has_img_{style}"]:
            _half_transparent(package / "img" / style / "64" / item["image"], (64, 64))
    return package


def test_emoji_gives_a_class_per_kept_category_and_an_image_per_style_on_white(tmp_path):
    origins = _origins()
    emoji = [
        {"short_name": "ant", "image": "1f41c.png", "category": "Animals & Nature", "has_img_google": True,
         "has_img_twitter": True},
        {"short_name": "apple", "image": "1f34e.png", "category": "Food & Drink", "has_img_google": True,
         "has_img_twitter": False},  # one style lacks it: left out, so every emoji has all styles
        {"short_name": "flag-fr", "image": "1f1eb.png", "category": "Flags", "has_img_google": True,
         "has_img_twitter": True},  # not a kept category
    ]
    packages = {style: _emoji_package(tmp_path / "downloads", style, emoji) for style in ("google", "twitter")}
    out = tmp_path / "emoji"
    origins.write_emoji(packages, out)

    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "animals/ant-google.png", "animals/ant-twitter.png"]
    with Image.open(out / "animals" / "ant-google.png") as image:
        assert image.mode == "RGB"
        assert image.getpixel((5, 5)) == (200, 0, 0) and image.getpixel((60, 5)) == (255, 255, 255)


def test_stamps_keep_the_chosen_folders_pngs_cut_to_their_side(tmp_path):
    origins = _origins()
    stamps = tmp_path / "stamps"
    _half_transparent(stamps / "animals" / "birds" / "robin.png", (600, 300))
    _half_transparent(stamps / "animals" / "cat.png", (100, 80))
    (stamps / "animals" / "cat.svg").write_text("<svg/>")  # the SVG twin is not read
    _half_transparent(stamps / "symbols" / "a.png", (50, 50))  # not a kept class
    out = tmp_path / "out"
    origins.write_stamps(stamps, out)

    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "animals/birds-robin.png", "animals/cat.png"]
    with Image.open(out / "animals" / "birds-robin.png") as image:
        assert image.size == (origins.STAMP_SIDE, origins.STAMP_SIDE // 2)
        assert image.getpixel((image.width - 3, 3)) == (255, 255, 255)
    with Image.open(out / "animals" / "cat.png") as image:
        assert image.size == (100, 80)  # smaller than the side: left as it is


def test_an_origin_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    origins = _origins()

    def failing(downloads: Path, out: Path) -> None:
        (out / "animals").mkdir(parents=True)
        raise RuntimeError("the registry went away")

    monkeypatch.setitem(origins.ORIGINS, "emoji", origins.Origin(failing))
    with pytest.raises(RuntimeError):
        origins.origin_path("emoji", tmp_path)
    assert not (tmp_path / "emoji").exists()  # no half-written origin that a later run would take as whole
    assert origins.origin_path("not-an-origin", tmp_path) is None


def test_fortunes_give_one_text_per_cookie_labelled_by_its_topic_file(tmp_path):
    origins = _origins()
    folder = tmp_path / "de"
    folder.mkdir()
    (folder / "witze").write_bytes("Ein Witz mit \xfc.\n%\n".encode("latin-1"))  # the twin below is read instead
    (folder / "witze.u8").write_text("Ein Witz\n\tüber zwei Zeilen.\n%\nNoch einer.\n%\n", encoding="utf-8")
    (folder / "fussball.fortunes").write_text("Der Ball ist rund.\n\t\t-- Sepp Herberger\n%\n\n%\n")
    (folder / "fussball.u8").write_text("")  # an empty twin, as fortunes-pl ships them: not read
    (folder / "farbe.u8").write_text("\x1b[33mBunt\x1b[m gesagt.\n%\n")  # colour codes, as fortunes-zh has them
    (folder / "mario.piadas").write_text("Uma piada.\n%\n")  # a package's prefix, as fortunes-mario names them
    out = tmp_path / "fortune_de.csv"
    origins.write_fortunes(folder, ("witze", "fussball", "farbe", "mario.piadas"), out)

    table = pd.read_csv(out)
    assert table.to_dict("records") == [
        {"text": "Ein Witz über zwei Zeilen.", "label": "witze"},
        {"text": "Noch einer.", "label": "witze"},
        {"text": "Der Ball ist rund. -- Sepp Herberger", "label": "fussball"},  # the empty cookie is dropped
        {"text": "Bunt gesagt.", "label": "farbe"},
        {"text": "Uma piada.", "label": "piadas"},  # labelled by the topic, without the prefix
    ]


def test_icons_keep_the_chosen_contexts_files_not_their_aliases(tmp_path):
    origins = _origins()
    theme = tmp_path / "oxygen" / "base"
    _half_transparent(theme / "64x64" / "devices" / "camera.png", (64, 64))
    (theme / "64x64" / "devices" / "camera-photo.png").symlink_to("camera.png")  # an alias: the same image
    _half_transparent(theme / "64x64" / "emotes" / "face-smile.png", (64, 64))  # not a kept context
    _half_transparent(theme / "32x32" / "devices" / "camera.png", (32, 32))  # another size
    out = tmp_path / "icons"
    origins.write_icons(theme, out)

    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == ["devices/camera.png"]
    with Image.open(out / "devices" / "camera.png") as image:
        assert image.size == (64, 64) and image.getpixel((60, 5)) == (255, 255, 255)


def _default_face(path: Path) -> Path:
    """Pillow's own TrueType face (Aileron), written out as a font file."""
    from PIL import ImageFont

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ImageFont.load_default(size=10).path.getvalue())
    return path


def test_glyphs_draw_each_letter_once_per_face_and_leave_out_what_is_not_a_new_face(tmp_path):
    origins = _origins()
    face = _default_face(tmp_path / "fonts" / "Aileron-Regular.otf")
    twin = tmp_path / "fonts" / "other-package" / "Aileron-Regular.otf"  # the same face in another package
    twin.parent.mkdir()
    twin.write_bytes(face.read_bytes())
    (tmp_path / "fonts" / "broken.ttf").write_bytes(b"not a font")
    out = tmp_path / "glyphs"
    origins.write_glyphs([twin, face, tmp_path / "fonts" / "broken.ttf"], out)

    assert sorted(p.name for p in out.iterdir()) == list(origins.GLYPH_CLASSES)
    names = [p.relative_to(out).as_posix() for p in out.rglob("*.png")]
    assert len(names) == len(origins.GLYPH_CLASSES)  # one face kept: its twin drew the same letters
    assert all(name.endswith("-Aileron-Regular.png") for name in names)
    with Image.open(out / "A" / Path(names[0]).name) as a, Image.open(out / "B" / Path(names[0]).name) as b:
        assert a.size == (origins.GLYPH_SIDE, origins.GLYPH_SIDE) and a.mode == "RGB"
        assert a.getpixel((0, 0)) == (255, 255, 255) and min(a.convert("L").getdata()) < 64  # black ink on white
        assert a.tobytes() != b.tobytes()
    # the family leads the name, hashed: a sorted split shuffles families and keeps a family's faces together
    import hashlib

    assert names[0].split("/")[1].startswith(hashlib.sha1(b"aileron").hexdigest()[:8] + "-")


def test_debian_descriptions_give_one_text_per_source_package_labelled_by_section(tmp_path):
    origins = _origins()
    stanzas = "\n\n".join([
        "Package: 0ad\nSource: 0ad\nSection: games\nDescription: Real-time strategy game of ancient warfare",
        "Package: 0ad-data\nSection: games\nDescription: Real-time strategy game of ancient warfare (data files)",
        "Package: abuse-lib\nSource: abuse (1:0.8)\nSection: contrib/games\nDescription: data for the game",
        "Package: abuse\nSource: abuse\nSection: contrib/games\nDescription: side-scrolling shoot-em-up action game",
        "Package: gimp\nSection: graphics\nDescription: GNU Image Manipulation Program\n long text\n .\n more",
        "Package: bash\nSection: shells\nDescription: GNU Bourne Again SHell",  # not a kept section
        "Package: nodesc\nSection: sound",  # no description
    ])
    out = tmp_path / "debian_en.csv"
    origins.write_descriptions(stanzas, out)

    assert pd.read_csv(out).to_dict("records") == [
        {"text": "Real-time strategy game of ancient warfare", "label": "games"},  # its data package a twin
        {"text": "side-scrolling shoot-em-up action game", "label": "games"},  # abuse's first binary by name
        {"text": "GNU Image Manipulation Program", "label": "graphics"},
    ]


def test_fashion_writes_the_first_images_of_each_class_as_grey_pictures_in_file_order(tmp_path):
    origins = _origins()
    clothes = tmp_path / "clothes"
    clothes.mkdir()
    for index in range(len(origins.FASHION_CLASSES)):
        # image k of class i: every pixel 10 * k + i, so each written file says which row it came from
        rows = [[10 * k + index] * 28 * 28 for k in range(3)]
        (clothes / f"{index}.json").write_text(json.dumps({"data": rows}))
    out = tmp_path / "fashion"
    origins.write_fashion(clothes, out, per_class=2)

    assert sorted(d.name for d in out.iterdir()) == sorted(origins.FASHION_CLASSES)
    assert sorted(p.name for p in (out / "sandal").iterdir()) == ["0000.png", "0001.png"]  # the third left out
    sandal = origins.FASHION_CLASSES.index("sandal")
    with Image.open(out / "sandal" / "0001.png") as image:
        assert image.mode == "L" and image.size == (28, 28)
        assert image.getextrema() == (10 + sandal, 10 + sandal)


def test_units_keep_the_chosen_races_and_a_few_evenly_spread_frames_of_each_unit_named_by_unit(tmp_path):
    origins = _origins()
    units = tmp_path / "units"
    for frame in range(10):  # a unit in its own folder, ten frames
        _half_transparent(units / "dwarves" / "thunderer" / f"thunderer-ranged{frame}.png", (72, 72))
    for frame in range(3):  # a unit in the race's folder, named by its first word
        _half_transparent(units / "dwarves" / f"scout-melee-{frame}.png", (72, 72))
    _half_transparent(units / "ogres" / "ogre.png", (72, 72))  # a race not kept
    out = tmp_path / "written"
    origins.write_units(units, out, frames=4)

    assert sorted(d.name for d in out.iterdir()) == ["dwarves"]
    thunderer, scout = origins.family_key("dwarves/thunderer"), origins.family_key("dwarves/scout")
    assert sorted(p.name for p in (out / "dwarves").iterdir()) == sorted(
        [f"{thunderer}-thunderer-thunderer-ranged{frame}.png" for frame in (0, 2, 5, 7)]  # 4 of 10, spread
        + [f"{scout}-scout-melee-{frame}.png" for frame in range(3)])  # fewer than 4: all
    with Image.open(out / "dwarves" / f"{scout}-scout-melee-0.png") as image:
        assert image.mode == "RGB" and image.getpixel((60, 10)) == (255, 255, 255)  # transparent laid on white
        assert image.getpixel((5, 10)) == (200, 0, 0)



def test_a_grouped_variant_of_units_keeps_each_unit_in_one_split(tmp_path, monkeypatch):
    from tlcore.data import import_data

    origins, calibration = _origins(), benchmark_module("calibration")
    units = tmp_path / "units"
    for race in ("dwarves", "drakes"):
        for unit in range(6):
            for frame in range(4):
                colour = (40 * unit, 100 if race == "drakes" else 0, 10 * frame, 255)
                _half_transparent(units / race / f"u{unit}" / f"u{unit}-{frame}.png", (72, 72), colour)
    written = tmp_path / "written"
    origins.write_units(units, written, frames=4)
    monkeypatch.setattr(calibration, "origin_path", lambda name: written if name == "units" else None)

    folder, _ = calibration.variant_folder("units@20:grouped", tmp_path / "shared", tmp_path / "scratch")
    assert calibration.origin_of("units@20:grouped") == "units"
    dataset = import_data(folder, tmp_path / "store")
    spans = dataset.records.groupby(["label", "group"])["split"].nunique()
    assert len(spans) == 12 and (spans == 1).all()  # 5 units learnt from and 1 tested, per race
    assert set(dataset.subset("val")["label"]) == {"dwarves", "drakes"}
    with pytest.raises(SystemExit, match="can be grouped"):
        calibration.variant_folder("emoji@20:grouped", tmp_path / "shared", tmp_path / "scratch")


def test_manual_pages_give_one_description_per_page_labelled_by_section(tmp_path):
    import gzip

    origins = _origins()
    man = tmp_path / "fr"

    def page(section: str, name: str, text: str) -> Path:
        path = man / f"man{section}" / f"{name}.{section}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(text.encode()))
        return path

    page("2", "open", ".TH OPEN 2\n.SH NOM\nopen, openat, creat \\- Ouvrir ou cr\u00e9er un\n"
                      "\\fBfichier\\fR\n.SH SYNOPSIS\n")  # the description over two lines, in bold
    page("8", "blkdiscard", '.SH "NAME"\nblkdiscard \u2013 Abandonner des secteurs MS\\-DOS\n.SH SYNOPSIS\n')
    page("8", "mountstats", ".SH NOM\nmountstats \u2013\\ Afficher des statistiques\n.SH SYNOPSIS\n")  # fixed space
    page("3", "mpool", ".SH NOM\nmpool\\- Partage de tampons\n.SH BIBLIOTH\u00c8QUE\n")  # no space before the dash
    page("1", "file", ".Dd 2023\n.Sh NOM\n.Nm file\n.Nd D\u00e9terminer le type d'un fichier\n.Sh SYNOPSIS\n")  # mdoc
    page("8", "odd", ".TH ODD 8\n.SH DESCRIPTION\nno NAME section\n.SH VOIR AUSSI\n")  # left out
    page("5", "passwd", ".SH NOM\npasswd \\- Fichier des mots de passe\n.SH DESCRIPTION\n")  # a section not kept
    (man / "man2" / "creat.2.gz").symlink_to("open.2.gz")  # an alias: the same page again
    out = tmp_path / "manpages.csv"
    origins.write_manpages(man, out)

    table = pd.read_csv(out)
    assert table.to_dict("records") == [{"text": "D\u00e9terminer le type d'un fichier", "label": "commands"},
                                        {"text": "Ouvrir ou cr\u00e9er un fichier", "label": "syscalls"},
                                        {"text": "Partage de tampons", "label": "library"},
                                        {"text": "Abandonner des secteurs MS-DOS", "label": "admin"},
                                        {"text": "Afficher des statistiques", "label": "admin"}]
