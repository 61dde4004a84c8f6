"""Benchmark: this transliterator against ICU's az_Cyrl-az/BGN on the same labelled text.

Per category of test line: line accuracy (exact match), word accuracy
(1 - word error rate), character error rate against the expected modern
Latin; then throughput in characters per second on a long text (the sample
corpus, 1958-1991 prose, repeated), best of several runs, each engine warmed
up on a first slice.

    .venv/bin/python -m bench.translit_vs_icu [--repeat 40] [--runs 5]

The expected Latin is the modern spelling (sources in
tests/test_transliteration_rules.py). ICU's BGN transform is a
romanization for maps, not modern spelling, so on loanwords it is expected
to lose; on the core letters it is the reference we must not be worse than.
"""

from __future__ import annotations

import argparse
import time
import unicodedata

from digitize.samples.corpus import PARAGRAPHS
from digitize.samples.metrics import cer, normalise, wer
from digitize.transliteration import RULES_VERSION, Transliterator

ICU_ID = "az_Cyrl-az/BGN"

# (category, Cyrillic as printed, expected modern Latin)
CASES: list[tuple[str, str, str]] = [
    # core: the 1958-1991 alphabet, native words
    ("core", "Азәрбајҹан Республикасы", "Azərbaycan Respublikası"),
    ("core", "Бакы Азәрбајҹанын пајтахты вә ән бөјүк шәһәридир.", "Bakı Azərbaycanın paytaxtı və ən böyük şəhəridir."),
    ("core", "Низами Ҝәнҹәви вә Үзејир Һаҹыбәјов", "Nizami Gəncəvi və Üzeyir Hacıbəyov"),
    ("core", "Гыз галасы Бакынын ән мәшһур абидәсидир.", "Qız qalası Bakının ən məşhur abidəsidir."),
    ("core", "Хәзәр дүнјанын ән бөјүк гапалы су һөвзәсидир.", "Xəzər dünyanın ən böyük qapalı su hövzəsidir."),
    ("core", "Газах, Шәки вә Ләнкәран; Ғарабағ, Шуша.", "Qazax, Şəki və Lənkəran; Ğarabağ, Şuşa."),
    ("core", "Ҹәфәр Ҹаббарлы ҝәнҹ јазычы иди.", "Cəfər Cabbarlı gənc yazıçı idi."),
    ("core", "Өлкәнин чај вә үзүм бағлары", "Ölkənin çay və üzüm bağları"),
    ("core", "ИСМАЈЫЛЛЫ ВӘ ШАМАХЫ", "İSMAYILLI VƏ ŞAMAXI"),
    ("core", "Јени түрк әлифба комитәси 1922-ҹи илдә", "Yeni türk əlifba komitəsi 1922-ci ildə"),
    # era: 1939-1958 print (Й for y; Қ, Ҷ glyphs)
    ("1939", "Азәрбайҹан ССР-ин пайтахты Бакы", "Azərbaycan SSR-in paytaxtı Bakı"),
    ("1939", "бөйүк шаир Сәмәд Вурғун", "böyük şair Səməd Vurğun"),
    ("1939", "Һейдәр вә Әйтән йолда ҝөрүшдүләр", "Heydər və Əytən yolda görüşdülər"),
    ("1939", "Қәнҷә шәһәри", "Gəncə şəhəri"),
    # loanwords and Russian names in Russian spelling
    ("loans", "цирк вә концерт", "sirk və konsert"),
    ("loans", "Дәмир јолу станциясы", "Dəmir yolu stansiyası"),
    ("loans", "јени објект вә съезд", "yeni obyekt və syezd"),
    ("loans", "Максим Горький вә Пётр Ильич Чайковский", "Maksim Qorki və Pyotr İliç Çaykovski"),
    ("loans", "Јуриј Гагарин — Юрий Гагарин", "Yuriy Qaqarin — Yuri Qaqarin"),
    ("loans", "Фјодор Достоевский вә Лев Толстой", "Fyodor Dostoyevski və Lev Tolstoy"),
    ("loans", "Хрущёв вә Горбачёв", "Xruşşov və Qorbaçov"),
    ("loans", "революция вә социализм", "revolyusiya və sosializm"),
    ("loans", "театрын актёру", "teatrın aktyoru"),
    ("loans", "сентябрь, октябрь, июнь", "sentyabr, oktyabr, iyun"),
    ("loans", "Сергей Есенин", "Sergey Yesenin"),
    ("loans", "Бульон вә меню", "Bulyon və menyu"),
    ("loans", "Алиев вә Бабаева", "Aliyev və Babayeva"),
    ("loans", "ЮРИЙ ГАГАРИН", "YURİ QAQARİN"),
    ("loans", "Йошкар-Ола вә Грозный", "Yoşkar-Ola və Qroznı"),
    ("loans", "жюри вә парашют", "jüri və paraşüt"),
    # lexicon: modern names and spellings the rules cannot know
    ("lexicon", "Москвада вә Ленинградда", "Moskvada və Leninqradda"),
    ("lexicon", "Россия вә Европа", "Rusiya və Avropa"),
    ("lexicon", "СССР-ин пајтахты", "SSRİ-in paytaxtı"),
    ("lexicon", "Ереван вә Тбилиси", "İrəvan və Tbilisi"),
    ("lexicon", "бюро вә компьютер", "büro və kompüter"),
    ("lexicon", "Шаирин ше'рләриндә мә'лумат", "Şairin şeirlərində məlumat"),
    # OCR: Latin look-alikes, Latin schwa, NFD
    ("ocr", "Бaкы шәһәри", "Bakı şəhəri"),
    ("ocr", "Азəрбајҹан Pеспубликасы", "Azərbaycan Respublikası"),
    ("ocr", "ЯШAР вә Hизами", "YAŞAR və Nizami"),
    ("ocr", "Азәрбаjҹан", "Azərbaycan"),
    ("ocr", "и\u0306ол вә Е\u0308ЛКА", "yol və YOLKA"),
    # untouched: Latin, numbers, URLs, Russian quotations
    ("untouched", "Bakı 1958 https://e.az/Бакы", "Bakı 1958 https://e.az/Бакы"),
    ("untouched", "Мән «Пролетарии всех стран, соединяйтесь!» дедим.",
     "Mən «Пролетарии всех стран, соединяйтесь!» dedim."),
    ("untouched", "«Война и мир» романы", "«Война и мир» romanı"),
]


def accuracy(pairs: list[tuple[str, str]]) -> tuple[float, float, float]:
    lines = sum(normalise(found) == normalise(expected) for expected, found in pairs) / len(pairs)
    expected = "\n".join(e for e, _ in pairs)
    found = "\n".join(f for _, f in pairs)
    return lines, 1.0 - wer(expected, found), cer(expected, found)


def throughput(convert, text: str, runs: int) -> float:
    convert(text[:2000])
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        convert(text)
        best = min(best, time.perf_counter() - start)
    return len(text) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="copies of the corpus in the speed text")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    import icu

    bgn = icu.Transliterator.createInstance(ICU_ID)
    ours = Transliterator()
    engines = {f"digitize (rules {RULES_VERSION})": ours.text, f"ICU {ICU_ID}": bgn.transliterate}

    categories = list(dict.fromkeys(category for category, _, _ in CASES))
    header = f"{'category':<10} {'lines':>5}  " + "  ".join(f"{name:>38}" for name in engines)
    print(header)
    print(f"{'':<10} {'':>5}  " + "  ".join(f"{'line acc  word acc    CER':>38}" for _ in engines))
    for category in categories + ["all"]:
        cases = [c for c in CASES if category in ("all", c[0])]
        cells = []
        for convert in engines.values():
            pairs = [(expected, unicodedata.normalize("NFC", convert(cyrillic))) for _, cyrillic, expected in cases]
            line_acc, word_acc, char_err = accuracy(pairs)
            cells.append(f"{line_acc:>14.1%} {word_acc:>9.1%} {char_err:>6.3f}")
        print(f"{category:<10} {len(cases):>5}  " + "  ".join(f"{cell:>38}" for cell in cells))

    corpus = ("\n\n".join(PARAGRAPHS) + "\n") * args.repeat
    cases_text = "\n".join(cyrillic for _, cyrillic, _ in CASES) * (len(corpus) // 3000 + 1)
    print()
    print(f"throughput, best of {args.runs} (million characters per second)")
    for label, text in (("corpus prose", corpus), ("test lines", cases_text)):
        speeds = [throughput(convert, text, args.runs) / 1e6 for convert in engines.values()]
        figures = "  ".join(f"{name}: {s:6.2f}" for name, s in zip(engines, speeds, strict=True))
        print(f"{label:<13} {len(text):>9} chars  {figures}")

    print()
    for category, cyrillic, expected in CASES:
        found = ours.text(cyrillic)
        if found != expected:
            print(f"ours differs [{category}]: {cyrillic!r} -> {found!r}, expected {expected!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
