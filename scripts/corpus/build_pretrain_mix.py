#!/usr/bin/env python3
"""Builds the pretraining text of the demo base model: the demo corpus, the chat set's training conversations
(ChatML) and its facts, repeated, as one shuffled file of documents.

Facts are short and each is seen once per copy, so they are repeated (--fact-repeats) to be remembered; poems and
prose are there once, for `liaoyuan run`'s free-form completions.

Usage: build_pretrain_mix.py CORPUS.txt CHATDIR OUT.txt [--fact-repeats N] [--chat-repeats N]
  CORPUS.txt  from build_demo_corpus.py
  CHATDIR     from build_chat_set.py (facts.txt, chat-text.jsonl)
"""
import argparse
import json
import os
import random

from build_demo_corpus import read_documents, write_documents


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("chatdir")
    parser.add_argument("out")
    parser.add_argument("--fact-repeats", type=int, default=4)
    parser.add_argument("--chat-repeats", type=int, default=1)
    args = parser.parse_args()
    corpus = read_documents(args.corpus)
    with open(os.path.join(args.chatdir, "facts.txt"), encoding="utf-8") as f:
        facts = f.readlines()
    with open(os.path.join(args.chatdir, "chat-text.jsonl"), encoding="utf-8") as f:
        chats = [json.loads(line)["text"] for line in f]
    rng = random.Random(13)
    mixed = list(corpus) + chats * args.chat_repeats
    # Facts travel in groups of 16 lines: one document per group keeps documents few and windows full.
    for _ in range(args.fact_repeats):
        copy = list(facts)
        rng.shuffle(copy)
        mixed += ["".join(copy[i:i + 16]) for i in range(0, len(copy), 16)]
    rng.shuffle(mixed)
    write_documents(args.out, mixed)
    print(f"{args.out}: {len(corpus)} corpus documents, {len(chats) * args.chat_repeats} conversations, "
          f"{len(facts)} facts x {args.fact_repeats}, {sum(map(len, mixed)):,} characters")


if __name__ == "__main__":
    main()
