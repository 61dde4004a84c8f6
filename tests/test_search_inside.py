"""Search inside a book (IIIF Content Search 2.0) from the ALTO word boxes: storage.search_inside and its route."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from digitize.archive.alto_words import AltoBox, read_alto_words
from digitize.elibrary import create_app
from digitize.errors import SearchQueryError, StorageError
from digitize.settings import Settings
from digitize.storage.catalog import Catalog
from digitize.storage.local import LocalObjectStore
from digitize.storage.search import Term, plain
from digitize.storage.search_inside import find_hits, page_may_match, parse_query, scale_box

from helpers.alto_item import PAGE_SIZE, layout_page, register_alto_item

PAGES = [
    ["Бакы Азәрбајҹанын пајтахтыдыр вә", "Шәки шәһәри дағлар арасында", "јерләшир. Бурада нефт-",
     "чилик мәркәзи јохдур."],
    ["Шәки вә Бакы шәһәрләри", "Хәзәр дәнизинин саһилиндә"],
    ["Ләнкәран шәһәри"],
]


@pytest.fixture
def library(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    register_alto_item(tmp_path, catalog, store, "book", "Шәки", PAGES)
    register_alto_item(tmp_path, catalog, store, "room", "Otaq", PAGES[:1], access="reading-room")
    register_alto_item(tmp_path, catalog, store, "later", "Sonra", PAGES[:1], embargo_until=date(2999, 1, 1))
    register_alto_item(tmp_path, catalog, store, "gone", "Getdi", PAGES[:1])
    catalog.withdraw("gone", "test")
    register_alto_item(tmp_path, catalog, store, "many", "Çox", [["Шәки " * 5] * 30])
    yield catalog, store
    catalog.close()


@pytest.fixture
def client(library):
    catalog, store = library
    with TestClient(create_app(Settings(), catalog=catalog, store=store)) as client:
        yield client


def _search(client, identifier: str = "book", **params):
    response = client.get(f"/iiif/{identifier}/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _targets(body) -> list[tuple[int, tuple[int, int, int, int]]]:
    found = []
    for item in body["items"]:
        canvas, _, fragment = item["target"].partition("#xywh=")
        found.append((int(canvas.rsplit("/", 1)[1]), tuple(int(v) for v in fragment.split(","))))
    return found


def _expected_box(page: int, line: int, word: int) -> tuple[int, int, int, int]:
    """Where the printed word is on the canvas (the page as OCR saw it), from the layout the ALTO was written from."""
    _, ocr = layout_page(PAGES[page - 1])
    x0, y0, x1, y1 = ocr.lines[line].words[word].bbox
    return x0, y0, x1 - x0, y1 - y0


def test_a_word_is_found_with_its_box_on_the_page_image(client):
    body = _search(client, q="Şəki")
    assert body["type"] == "AnnotationPage"
    assert body["@context"] == ["http://iiif.io/api/presentation/3/context.json",
                                "http://iiif.io/api/search/2/context.json"]
    assert body["partOf"]["type"] == "AnnotationCollection" and body["partOf"]["total"] == 2
    assert {item["motivation"] for item in body["items"]} == {"highlighting"}
    assert all(item["target"].startswith("http://testserver/iiif/book/canvas/") for item in body["items"])
    assert _targets(body) == [(1, _expected_box(1, 1, 0)), (2, _expected_box(2, 0, 0))]
    x, y, w, h = _expected_box(1, 1, 0)
    # The box is the word's: at the left margin, on the second line, a word wide and a line high.
    assert 68 <= x <= 75 and 170 < y < 190 and 50 < w < 110 and 20 < h < 45
    assert body["items"][0]["body"] == {"type": "TextualBody", "value": "Шәки", "format": "text/plain"}
    context = body["annotations"][0]["items"][0]
    assert context["motivation"] == "contextualizing"
    selector = context["target"]["selector"][0]
    assert context["target"]["source"] == body["items"][0]["id"]
    assert selector["exact"] == "Шәки" and selector["prefix"].endswith("вә ") and selector["suffix"].startswith(" шәһ")


def test_either_script_and_no_diacritics_find_the_same(client):
    found = {q: _targets(_search(client, q=q)) for q in ("seki", "şəki", "ŞƏKİ", "Шәки", "ШӘКИ")}
    assert len({tuple(v) for v in found.values()}) == 1 and len(found["seki"]) == 2
    # A word finds the words it begins (Azerbaijani adds endings to the stem).
    pages = {seq for seq, _ in _targets(_search(client, q="seher"))}
    assert pages == {1, 2, 3}


def test_several_words_must_all_be_on_the_page_and_each_is_highlighted(client):
    body = _search(client, q="seki baki")
    assert body["partOf"]["total"] == 4  # Şəki and Bakı on pages 1 and 2
    assert sorted(seq for seq, _ in _targets(body)) == [1, 1, 2, 2]
    assert [i["body"]["value"] for i in body["items"]] == ["Бакы", "Шәки", "Шәки", "Бакы"]
    assert _search(client, q="seki lənkəran")["partOf"]["total"] == 0


def test_a_quoted_phrase_is_words_in_a_row(client):
    body = _search(client, q='"şəki şəhəri"')
    assert body["partOf"]["total"] == 1
    assert [i["body"]["value"] for i in body["items"]] == ["Шәки", "шәһәри"]
    targets = body["annotations"][0]["items"][0]["target"]
    assert [t["source"] for t in targets] == [i["id"] for i in body["items"]]
    assert _search(client, q='"şəhəri şəki"')["partOf"]["total"] == 0


def test_a_word_hyphenated_at_a_line_end_is_one_hit_over_two_boxes(client):
    body = _search(client, q="нефтчилик")
    assert body["partOf"]["total"] == 1
    assert [seq for seq, _ in _targets(body)] == [1, 1]
    assert body["annotations"][0]["items"][0]["target"][0]["selector"][0]["exact"] == "нефтчилик"


def test_results_come_in_pages(client):
    first = _search(client, "many", q="seki")
    assert first["partOf"]["total"] == 150 and len(first["items"]) == 100 and first["startIndex"] == 0
    assert parse_qs(urlsplit(first["next"]["id"]).query) == {"q": ["seki"], "page": ["2"]}
    assert first["partOf"]["last"]["id"] == first["next"]["id"] and "prev" not in first
    second = client.get(urlsplit(first["next"]["id"]).path + "?" + urlsplit(first["next"]["id"]).query).json()
    assert len(second["items"]) == 50 and second["startIndex"] == 100 and "next" not in second
    assert second["prev"]["id"] == first["partOf"]["first"]["id"]
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


def test_unimplemented_parameters_are_listed_as_ignored_and_motivation_filters(client):
    body = _search(client, q="seki", user="http://example.org/me", date="2020-01-01T00:00:00Z/2021-01-01T00:00:00Z")
    assert body["ignored"] == ["date", "user"] and body["partOf"]["total"] == 2
    assert _search(client, q="seki", motivation="painting")["partOf"]["total"] == 0
    assert _search(client, q="seki", motivation="highlighting painting")["partOf"]["total"] == 2
    assert "ignored" not in _search(client, q="seki")


def test_other_sites_viewers_may_read_the_answer(client):
    assert client.get("/iiif/book/search", params={"q": "seki"}).headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("q, message", [
    ("", "no word"), ("   ", "no word"), ("!!! ...", "no word"), ('baki "seki', "unbalanced quote"), ('""', "no word"),
])
def test_a_query_with_nothing_to_search_is_a_clear_400(client, q, message):
    response = client.get("/iiif/book/search", params={"q": q})
    assert response.status_code == 400 and message in response.json()["detail"]


def test_an_overlong_query_is_refused_before_any_work(client):
    assert client.get("/iiif/book/search", params={"q": "a" * 5000}).status_code == 422
    assert client.get("/iiif/book/search", params={"q": " ".join(["söz"] * 40)}).status_code == 422
    assert client.get("/iiif/book/search", params={"q": "seki", "page": "x"}).status_code == 422
    assert client.get("/iiif/book/search", params={"q": "seki", "page": "0"}).status_code == 422


def test_the_item_pages_access_rule_applies(client):
    assert client.get("/iiif/nothing/search", params={"q": "seki"}).status_code == 404
    assert client.get("/iiif/gone/search", params={"q": "seki"}).status_code == 410
    for restricted in ("room", "later"):
        response = client.get(f"/iiif/{restricted}/search", params={"q": "seki"})
        assert response.status_code == 403 and response.headers["content-type"] == "application/json"
    # Even a bad query on a restricted item says only that it is restricted.
    assert client.get("/iiif/room/search", params={"q": ""}).status_code == 403


def test_reading_room_readers_may_search_its_items(library):
    catalog, store = library
    settings = Settings(web={"reading_room_networks": ["127.0.0.0/8"]})
    with TestClient(create_app(settings, catalog=catalog, store=store), client=("127.0.0.1", 5000)) as client:
        assert _search(client, "room", q="seki")["partOf"]["total"] == 1


def test_a_damaged_alto_file_drops_its_page_only(library, client):
    catalog, store = library
    key = next(f.key for f in catalog.files("book") if f.key.endswith("alto/0001.xml"))
    path = store.root / key
    assert path.exists()
    path.write_bytes(b"<alto><Page")
    body = _search(client, q="seki")
    assert [seq for seq, _ in _targets(body)] == [2]


# -- the parts, without the web ------------------------------------------------


def test_plain_form():
    assert plain("Шәки") == plain("şəki") == plain("ŞƏKİ") == "seki"
    assert plain("Azərbaycan") == "azerbaycan" and plain("Gəncə çörək") == "gence corek"


def test_parse_query():
    query = parse_query('Bakı "şəhər mərkəzi" Шәки, bakı')
    assert query.phrases == ((Term("baki", True),), (Term("seher", True), Term("merkezi", True)), (Term("seki", True),))
    assert parse_query("ev 100").phrases == ((Term("ev", False),), (Term("100", False),))
    with pytest.raises(SearchQueryError, match="unbalanced"):
        parse_query('"bakı')
    with pytest.raises(SearchQueryError, match="no word"):
        parse_query("- * ( )")
    with pytest.raises(SearchQueryError, match="at most 3 words"):
        parse_query("a b c d", max_words=3)


def test_the_text_test_never_drops_a_page_with_hits():
    _, ocr = layout_page(PAGES[0])
    text = "\n".join(" ".join(w.text for w in line.words) for line in ocr.lines)
    for q in ("seki", "neftcilik", '"seki seheri"', "paytaxt", "merkezi yoxdur"):
        query = parse_query(q)
        assert page_may_match(query, text)
    assert not page_may_match(parse_query("lənkəran"), text)
    assert not page_may_match(parse_query("seki"), None)


def test_reading_alto(tmp_path):
    from digitize.archive.alto import AltoSource, write_alto

    _, ocr = layout_page(PAGES[0])
    write_alto(ocr, tmp_path / "p.xml", AltoSource(seq=1, image_name="p.png"))
    page = read_alto_words((tmp_path / "p.xml").read_bytes())
    assert (page.width, page.height) == PAGE_SIZE
    assert [w.text for w in page.words][-4:] == ["Бурада", "нефтчилик", "мәркәзи", "јохдур."]
    assert len(page.words[-3].boxes) == 2
    hits = find_hits(parse_query("bakı"), 1, page)
    assert [h.exact for h in hits] == ["Бакы"] and hits[0].prefix == "" and hits[0].suffix.startswith("Азәрбајҹанын")
    with pytest.raises(StorageError, match="not well-formed"):
        read_alto_words(b"<alto", name="items/x/alto/0001.xml")
    with pytest.raises(StorageError, match="no ALTO Page"):
        read_alto_words(b"<alto/>")


def test_scale_box_stays_on_the_image():
    assert scale_box(AltoBox(0, 0, 10, 10), (100, 100), (50, 50)) == (0, 0, 5, 5)
    assert scale_box(AltoBox(95, 95, 20, 20), (100, 100), (50, 50)) == (47, 47, 3, 3)
    assert scale_box(AltoBox(10, 10, 0, 0), (100, 100), (50, 50)) == (5, 5, 1, 1)
