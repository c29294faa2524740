"""Generate the bundled evaluation data: one JSONL file per suite, next to this file.

    python -m datagen.make_eval          # rewrite every JSONL file
    python -m datagen.make_eval --card   # ... and README.md (the data card)

Every item was written for this project: hand-written prompts (instruction-following, safety,
tool use, multi-turn conversations, style questions, Python functions to write or fix, with reference
solutions checked in :mod:`posttrain.sandbox`) plus a seeded generator for arithmetic and
word problems and a topic x constraint template grid for instruction following. Nothing is
downloaded or copied from another dataset. All randomness comes from ``random.Random(seed)``
(one per suite), so reruns are byte-identical.

Items are ordered so that any prefix mixes a suite's kinds of items (``posttrain eval --limit N``
takes a prefix). Eval data is kept apart from the training data the package ships: the build
stops if any user turn here, normalised by :func:`normalise_prompt`, equals a user turn of a file
in ``posttrain/data/bundled/``, and arithmetic operands that occur together in a training prompt
are not reused.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import textwrap
from collections import Counter
from collections.abc import Iterator
from typing import Any

from datagen import BUNDLED_DIR, EVAL_DATA_DIR

HERE = EVAL_DATA_DIR  # where the files go: the package's eval data
TRAINING_DIR = BUNDLED_DIR
CARD_FILE = os.path.join(HERE, "README.md")
FILES = {
    "math": "math.jsonl",
    "instruction-following": "instruction_following.jsonl",
    "safety": "safety.jsonl",
    "red-team": "red_team.jsonl",
    "everyday": "everyday.jsonl",
    "seeds": "seeds.jsonl",
    "tool-use": "tool_use.jsonl",
    "multi-turn": "multi_turn.jsonl",
    "style": "style.jsonl",
    "code": "code.jsonl",
}

Row = dict[str, Any]


# ---------------------------------------------------------------------------- separation from training data

def normalise_prompt(text: str) -> str:
    """Lowercase, punctuation dropped, whitespace collapsed: "What's 2+2?" -> "whats 22"."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def user_turns(row: Any) -> Iterator[str]:
    """Every user message in a row, wherever it sits (``messages``, ``prompt`` as text or chat, ...)."""
    if isinstance(row, dict):
        if row.get("role") == "user" and isinstance(row.get("content"), str):
            yield row["content"]
        for key, value in row.items():
            if key == "prompt" and isinstance(value, str):
                yield value
            else:
                yield from user_turns(value)
    elif isinstance(row, list):
        for value in row:
            yield from user_turns(value)


def training_files() -> list[str]:
    """Every JSONL file of training data the package ships (held-out splits included)."""
    return sorted(glob.glob(os.path.join(TRAINING_DIR, "*.jsonl")))


def read_jsonl(path: str) -> list[Row]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def training_prompts() -> list[str]:
    return [turn for path in training_files() for row in read_jsonl(path) for turn in user_turns(row)]


def overlaps(eval_rows: list[Row], train_turns: list[str]) -> list[str]:
    """Eval user turns that equal a training user turn after normalisation."""
    seen = {normalise_prompt(turn) for turn in train_turns}
    return [turn for row in eval_rows for turn in user_turns(row) if normalise_prompt(turn) in seen]


# ---------------------------------------------------------------------------- math

ADD = ("Work out {a} + {b} and give only the final number.", "Find the sum of {a} and {b}. Reply with just the number.",
       "{a} plus {b} equals what? Answer with a number.")
SUB = ("Find the difference {a} - {b}. Reply with just the number.", "Take {b} away from {a}. What number is left?",
       "What do you get from {a} minus {b}? Give the final number only.")
MUL = ("Find the product of {a} and {b}. Reply with just the number.", "{a} multiplied by {b} is what? Give the final number.")
MATH_KINDS = ("add2", "sub3", "word", "mul", "add3", "sub2")  # cycled, so every prefix mixes them


def _word_problem(rng: random.Random, scenario: int) -> tuple[str, int, tuple[int, ...]]:
    if scenario == 0:
        a, b = rng.randint(18, 60), rng.randint(18, 60)
        c = rng.randint(10, a + b - 10)
        return (f"A farmer collects {a} eggs on Monday and {b} eggs on Tuesday. She sells {c} of them at the market. "
                "How many eggs does she have left? Give the final number."), a + b - c, (a, b, c)
    if scenario == 1:
        rows, seats = rng.randint(8, 16), rng.randint(10, 20)
        empty = rng.randint(5, 30)
        return (f"A cinema has {rows} rows of {seats} seats. During a film, {empty} seats are empty. "
                "How many people are watching? Give the final number."), rows * seats - empty, (rows, seats, empty)
    if scenario == 2:
        tank, garden, washing = rng.randint(300, 600), rng.randint(40, 120), rng.randint(30, 90)
        return (f"A water tank holds {tank} litres. {garden} litres are used for the garden and {washing} litres for "
                "washing. How many litres remain? Give the final number."), tank - garden - washing, (tank, garden, washing)
    if scenario == 3:
        packs, per_pack, given = rng.randint(4, 9), rng.randint(8, 12), rng.randint(5, 20)
        return (f"A teacher buys {packs} packs of pencils with {per_pack} pencils in each pack and gives away {given} "
                "pencils. How many pencils does the teacher have now? Give the final number."),\
            packs * per_pack - given, (packs, per_pack, given)
    km, days, last = rng.randint(3, 9), rng.randint(4, 7), rng.randint(10, 21)
    return (f"A runner jogs {km} km every day for {days} days and then {last} km on one long run. How many km did "
            "she run in total? Give the final number."), km * days + last, (km, days, last)


def make_math(train_turns: list[str], count: int = 30, seed: int = 0) -> list[Row]:
    rng = random.Random(seed)
    # Operands that appear together in a training prompt are not reused (a held-out question, not a rephrasing).
    train_numbers = [set(re.findall(r"\d+", turn)) for turn in train_turns if re.search(r"\d", turn)]

    def unseen(*operands: int) -> bool:
        wanted = {str(operand) for operand in operands}
        return not any(wanted <= numbers for numbers in train_numbers)

    rows, scenario = [], 0
    while len(rows) < count:
        kind = MATH_KINDS[len(rows) % len(MATH_KINDS)]
        if kind == "word":
            prompt, answer, operands = _word_problem(rng, scenario % 5)
        else:
            digits = 3 if kind in ("add3", "sub3") else 2
            a, b = rng.randint(10 ** (digits - 1), 10**digits - 1), rng.randint(10 ** (digits - 1), 10**digits - 1)
            if kind == "mul":
                b = rng.randint(3, 9)
            if kind.startswith("sub") and a < b:
                a, b = b, a
            templates = {"add": ADD, "sub": SUB, "mul": MUL}[kind[:3]]
            answer = {"add": a + b, "sub": a - b, "mul": a * b}[kind[:3]]
            prompt, operands = rng.choice(templates).format(a=a, b=b), (a, b)
        # An answer equal to a number in the prompt would reward echoing the question (the last number wins).
        if not unseen(*operands) or answer <= 0 or str(answer) in re.findall(r"\d+", prompt):
            continue
        scenario += kind == "word"
        rows.append({"id": f"math-{len(rows) + 1:04d}", "prompt": prompt, "answer": str(answer), "kind": kind})
    return rows


# ---------------------------------------------------------------------------- instruction following

IF_HANDWRITTEN: list[tuple[str, list[dict]]] = [
    ("What is a good name for a bakery? Answer in at most 10 words.", [{"type": "max_words", "n": 10}]),
    ('List three fruits that are high in vitamin C as exactly 3 bullet points, each starting with "- ".',
     [{"type": "bullet_count", "n": 3}]),
    ('Return a JSON object with the keys "city" and "country" for where the Eiffel Tower stands. Output only the JSON.',
     [{"type": "json"}, {"type": "include_keywords", "keywords": ["Paris", "France"]}]),
    ("Explain why people need sleep, using only lowercase letters and no more than 40 words.",
     [{"type": "lowercase"}, {"type": "max_words", "n": 40}]),
    ('Give me advice for a job interview without using the words "nervous" or "stress".',
     [{"type": "exclude_keywords", "keywords": ["nervous", "stress"]}]),
    ('Write a short thank-you note to a teacher. End your reply with the exact words "With gratitude".',
     [{"type": "ends_with", "phrase": "With gratitude"}]),
    ("Describe a sunrise in exactly two paragraphs separated by a blank line, and do not use any commas.",
     [{"type": "num_paragraphs", "n": 2}, {"type": "no_commas"}]),
    ("In one sentence, what does a thermometer measure?", [{"type": "max_sentences", "n": 1}]),
    ('Name the two colours of a classic chessboard, and use the words "black" and "white" in your answer.',
     [{"type": "include_keywords", "keywords": ["black", "white"]}]),
    ('Suggest a weekend activity for a family in at most 20 words, without using the word "park".',
     [{"type": "max_words", "n": 20}, {"type": "exclude_keywords", "keywords": ["park"]}]),
    ('Write a packing list for a beach day as exactly 4 bullet points, each starting with "- ".',
     [{"type": "bullet_count", "n": 4}]),
    ("Reply with a JSON list of three vegetables and nothing else.", [{"type": "json"}]),
    ('Tell me a fun fact about owls. Use only lowercase letters and end with the phrase "hoot hoot".',
     [{"type": "lowercase"}, {"type": "ends_with", "phrase": "hoot hoot"}]),
    ('What should I bring to a picnic? Answer in at most 3 sentences and mention the word "blanket".',
     [{"type": "max_sentences", "n": 3}, {"type": "include_keywords", "keywords": ["blanket"]}]),
]
IF_TOPICS = (("the planet Mars", "red"), ("honeybees", "hive"), ("a public library", "books"), ("bicycles", "wheels"),
             ("volcanoes", "lava"), ("the piano", "keys"), ("rainforests", "rain"), ("lighthouses", "light"))
IF_TEMPLATES: list[tuple[str, list[dict]]] = [
    ("Describe {topic} in at most 25 words.", [{"type": "max_words", "n": 25}]),
    ('Write exactly three bullet points about {topic}. Start each bullet with "- ".', [{"type": "bullet_count", "n": 3}]),
    ("Write one sentence about {topic}, in lowercase letters only.", [{"type": "lowercase"}, {"type": "max_sentences", "n": 1}]),
    ("Tell me about {topic} without using any commas.", [{"type": "no_commas"}]),
    ("Write two short paragraphs about {topic}, separated by a blank line.", [{"type": "num_paragraphs", "n": 2}]),
    ('Give a JSON object about {topic} with the keys "name" and "fact". Output only the JSON.',
     [{"type": "json"}, {"type": "include_keywords", "keywords": ["name", "fact"]}]),
    ('Say something about {topic} in at most two sentences, and end with the phrase "That is all."',
     [{"type": "max_sentences", "n": 2}, {"type": "ends_with", "phrase": "That is all."}]),
    ('Write a short description of {topic} that uses the word "{keyword}".', [{"type": "include_keywords", "keywords": ["{keyword}"]}]),
]


def make_instruction_following(seed: int = 0) -> list[Row]:
    rng = random.Random(seed)
    templated = []
    for template, constraints in IF_TEMPLATES:  # every template twice, with two different topics
        for topic, keyword in rng.sample(IF_TOPICS, 2):
            filled = json.loads(json.dumps(constraints).replace("{keyword}", keyword))
            templated.append((template.format(topic=topic, keyword=keyword), filled))
    rng.shuffle(templated)
    # Alternate hand-written and templated prompts, so every prefix has both.
    mixed = [pair for group in zip(IF_HANDWRITTEN, templated) for pair in group] + templated[len(IF_HANDWRITTEN):]
    return [{"id": f"if-{index + 1:04d}", "prompt": prompt, "constraints": constraints}
            for index, (prompt, constraints) in enumerate(mixed)]


# ---------------------------------------------------------------------------- safety, red team, everyday, seeds

def _round_robin(groups: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``(group, text)`` taking one from each group in turn, so any prefix mixes the groups."""
    longest = max(len(texts) for texts in groups.values())
    return [(group, texts[i]) for i in range(longest) for group, texts in groups.items() if i < len(texts)]


def make_safety() -> list[Row]:
    """Harmful and benign requests alternating, each side cycling through its categories or kinds."""
    from posttrain.eval.data.safety_items import BENIGN, HARMFUL

    harmful = [{"prompt": text, "harmful": True, "category": category} for category, text in _round_robin(HARMFUL)]
    benign = [{"prompt": text, "harmful": False, "category": kind} for kind, text in _round_robin(BENIGN)]
    rows = [row for pair in zip(harmful, benign) for row in pair] + harmful[len(benign):] + benign[len(harmful):]
    return [{"id": f"safety-{index + 1:04d}", **row} for index, row in enumerate(rows)]


def make_red_team(safety_rows: list[Row], train_turns: list[str]) -> list[Row]:
    """Every jailbreak wrapper around harmful and benign requests; raises SystemExit if a wrapped request is
    itself a safety prompt or a training prompt (the suite measures the wrapper, not a memorised request)."""
    from posttrain.eval.data.red_team_items import wrapped_items

    rows = wrapped_items()
    seen = {normalise_prompt(row["prompt"]) for row in safety_rows} | {normalise_prompt(turn) for turn in train_turns}
    reused = sorted({row["request"] for row in rows if normalise_prompt(row["request"]) in seen})
    if reused:
        raise SystemExit(f"red-team requests that are safety or training prompts: {reused}")
    return [{"id": f"red-team-{index + 1:04d}", **row} for index, row in enumerate(rows)]


def make_everyday() -> list[Row]:
    """Two plain requests, then an underspecified one, repeated."""
    from posttrain.eval.data.everyday_items import PLAIN, UNDERSPECIFIED

    plain = [{"prompt": text, "kind": "plain"} for text in PLAIN]
    vague = [{"prompt": text, "kind": "underspecified", "missing": missing} for text, missing in UNDERSPECIFIED]
    rows = []
    while plain or vague:
        rows += plain[:2] + vague[:1]
        plain, vague = plain[2:], vague[1:]
    return [{"id": f"everyday-{index + 1:04d}", **row} for index, row in enumerate(rows)]


def make_seeds() -> list[Row]:
    """The brief's five examples; raises SystemExit if the code seed's reference solution fails its tests."""
    from posttrain.eval.data.everyday_items import SEEDS
    from posttrain.sandbox import run_code

    code = next(row for row in SEEDS if row["check"] == "code")
    result = run_code("def is_even(n):\n    return n % 2 == 0\n", code["tests"])
    if result.passed != len(code["tests"]):
        raise SystemExit(f"the is_even seed's tests fail on a correct solution: {result}")
    return [dict(row) for row in SEEDS]


# ---------------------------------------------------------------------------- tool use

def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


TOOLS = {
    "get_weather": _tool("get_weather", "Current weather for a city.", {
        "city": {"type": "string", "description": "City name, e.g. Lisbon"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"]),
    "set_timer": _tool("set_timer", "Start a countdown timer.", {
        "minutes": {"type": "integer", "description": "Length of the timer in minutes"},
        "label": {"type": "string", "description": "Optional name for the timer"}}, ["minutes"]),
    "convert_currency": _tool("convert_currency", "Convert an amount of money between currencies.", {
        "amount": {"type": "number"}, "from_currency": {"type": "string", "description": "ISO code, e.g. EUR"},
        "to_currency": {"type": "string", "description": "ISO code, e.g. USD"}}, ["amount", "from_currency", "to_currency"]),
    "search_recipes": _tool("search_recipes", "Find recipes that use an ingredient.", {
        "ingredient": {"type": "string"}, "max_minutes": {"type": "integer", "description": "Longest cooking time"}},
        ["ingredient"]),
    "send_email": _tool("send_email", "Send an email.", {
        "to": {"type": "string", "description": "Recipient email address"}, "subject": {"type": "string"},
        "body": {"type": "string"}}, ["to", "subject", "body"]),
    "book_table": _tool("book_table", "Reserve a table at a restaurant.", {
        "restaurant": {"type": "string"}, "people": {"type": "integer"},
        "time": {"type": "string", "description": "e.g. 19:30"}}, ["restaurant", "people", "time"]),
    "translate_text": _tool("translate_text", "Translate text into another language.", {
        "text": {"type": "string"}, "target_language": {"type": "string", "description": "e.g. French"}},
        ["text", "target_language"]),
}
# (prompt, tool names offered, expect): expect is the call {"name", "arguments"} or "no_call" / "ask".
TOOL_ITEMS: list[tuple[str, list[str], Any]] = [
    ("What's the weather like in Lisbon right now?", ["get_weather", "set_timer"],
     {"name": "get_weather", "arguments": {"city": "Lisbon"}}),
    ("Tell me a fun fact about octopuses.", ["get_weather", "set_timer"], "no_call"),
    ("Set a timer for 12 minutes.", ["set_timer", "get_weather"], {"name": "set_timer", "arguments": {"minutes": 12}}),
    ("Convert 250 EUR to JPY.", ["convert_currency", "get_weather"],
     {"name": "convert_currency", "arguments": {"amount": 250, "from_currency": "EUR", "to_currency": "JPY"}}),
    ("What's the weather going to be like tomorrow?", ["get_weather", "set_timer"], "ask"),
    ("Find me a recipe that uses mushrooms.", ["search_recipes", "set_timer"],
     {"name": "search_recipes", "arguments": {"ingredient": "mushrooms"}}),
    ("Translate 'good night' into Spanish.", ["translate_text", "search_recipes"],
     {"name": "translate_text", "arguments": {"text": "good night", "target_language": "Spanish"}}),
    ("Write a haiku about snow.", ["translate_text", "search_recipes"], "no_call"),
    ("Is it cold in Oslo today? Give me the temperature in fahrenheit.", ["get_weather", "convert_currency"],
     {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "fahrenheit"}}),
    ("Please send an email to my landlord.", ["send_email", "book_table"], "ask"),
    ("Book a table for 4 people at Luigi's at 19:30.", ["book_table", "send_email"],
     {"name": "book_table", "arguments": {"restaurant": "Luigi's", "people": 4}}),
    ("Email sam@example.com with the subject 'Lunch' and tell him I'll be ten minutes late.", ["send_email", "set_timer"],
     {"name": "send_email", "arguments": {"to": "sam@example.com", "subject": "Lunch"}}),
    ("What's 15 times 4?", ["get_weather", "send_email"], "no_call"),
    ("Set a 45-minute timer labelled 'bread'.", ["set_timer", "search_recipes"],
     {"name": "set_timer", "arguments": {"minutes": 45, "label": "bread"}}),
    ("How much is 80 USD in GBP?", ["convert_currency", "translate_text"],
     {"name": "convert_currency", "arguments": {"amount": 80, "from_currency": "USD", "to_currency": "GBP"}}),
    ("Book a table for dinner tonight.", ["book_table", "get_weather"], "ask"),
]


def make_tool_use() -> list[Row]:
    return [{"id": f"tool-{index + 1:04d}", "prompt": prompt, "tools": [TOOLS[name] for name in tools], "expect": expect}
            for index, (prompt, tools, expect) in enumerate(TOOL_ITEMS)]


# ---------------------------------------------------------------------------- multi-turn

def _chat(*turns: str) -> list[dict]:
    return [{"role": "user" if index % 2 == 0 else "assistant", "content": text} for index, text in enumerate(turns)]


# (kind, conversation ending with a user turn, expect, forbid)
MULTI_TURN: list[tuple[str, list[dict], list, list[str]]] = [
    ("memory", _chat("Hi, I'm Mateo and I just adopted a puppy called Biscuit.",
                     "Congratulations, Mateo! Biscuit is a lovely name. What breed is he?",
                     "He's a beagle. By the way, what's my puppy's name again?"), ["Biscuit"], []),
    ("greeting", _chat("Morning! Hope your day is going well."),
     [["morning", "hello", "hi", "hey", "greetings", "thank", "thanks"]], []),
    ("recovery", _chat("Which planet is the largest in our solar system?", "The largest planet is Saturn.",
                       "Hmm, are you sure? I thought it was a different one."), ["Jupiter"], []),
    ("memory", _chat("I have 14 apples in a basket.", "Got it: 14 apples in the basket.",
                     "I eat 3 and give 2 to my sister. How many apples are left in the basket?"), ["9"], []),
    ("memory", _chat("My shopping list is: milk, eggs, spinach, rice and lemons.",
                     "Noted! Your list: milk, eggs, spinach, rice and lemons.",
                     "What was the third item on my list?"), ["spinach"], []),
    ("greeting", _chat("Hey there, I'm Kofi.",), ["Kofi", ["hello", "hi", "hey", "nice to meet", "welcome"]], []),
    ("recovery", _chat("Plan a picnic for Saturday afternoon.",
                       "A Saturday afternoon picnic: pack sandwiches, fruit, lemonade and a blanket, and pick a shady spot.",
                       "Actually, make it Sunday instead. Which day is the picnic now?"), ["Sunday"], ["Saturday"]),
    ("memory", _chat("I'm vegetarian, just so you know.", "Thanks for letting me know! I'll keep that in mind.",
                     "Can you suggest a filling dinner for tonight?"), [],
     ["chicken", "beef", "pork", "bacon", "ham", "salmon", "tuna", "fish", "turkey", "lamb", "steak"]),
    ("memory", _chat("My flight to Nairobi leaves at 6:40 in the morning.", "That's an early start! Set an alarm.",
                     "Remind me, which city am I flying to?"), ["Nairobi"], []),
    ("greeting", _chat("What's a good name for a goldfish?", "How about Bubbles, Goldie or Finn?",
                       "Love it, thanks so much! Bye for now."),
     [["bye", "goodbye", "welcome", "take care", "pleasure", "glad", "enjoy"]], []),
    ("recovery", _chat("asdfgh jkl", "That message looks like it might be a typo. What would you like to ask?",
                       "Sorry, my cat walked on the keyboard! What is 6 times 7?"), ["42"], []),
    ("memory", _chat("Let's call my project Blue Heron. It's a birdwatching app.",
                     "Blue Heron sounds like a great name for a birdwatching app!",
                     "Write a one-line slogan for my project that includes its name."), ["Blue Heron"], []),
    ("memory", _chat("I'm Astrid. I work as a nurse in Bergen.", "Nice to meet you, Astrid! Nursing is important work.",
                     "Which city do I work in?"), ["Bergen"], []),
    ("greeting", _chat("Hiya! How are you doing today?"),
     [["good", "well", "great", "fine", "doing", "hello", "hi", "thanks"]], []),
    ("recovery", _chat("How many minutes are in 3 hours?", "There are 120 minutes in 3 hours.",
                       "That doesn't look right. Can you recalculate?"), ["180"], []),
    ("memory", _chat("Remember the number 7351 for me.", "Sure, I'll remember 7351.",
                     "Thanks. What number did I ask you to remember?"), ["7351"], []),
]


def make_multi_turn() -> list[Row]:
    return [{"id": f"multi-{index + 1:04d}", "messages": messages, "kind": kind, "expect": expect, "forbid": forbid}
            for index, (kind, messages, expect, forbid) in enumerate(MULTI_TURN)]


# ---------------------------------------------------------------------------- style

# (prompt, the most words a good answer needs); at most 80, so 128 new tokens (~95 words) can show an overrun
STYLE_ITEMS = [
    ("How many legs does a crab have?", 20),
    ("Explain what a mortgage is.", 80),
    ("Is it okay to wash a wool sweater in hot water?", 50),
    ("What should I pack for a one-day hike?", 80),
    ("Give me one tip for remembering people's names.", 50),
    ("How do I politely decline a party invitation?", 80),
    ("What does RSVP mean on an invitation?", 30),
    ("Why do onions make people cry when they chop them?", 70),
    ("Suggest a name for a grey kitten.", 20),
    ("What's the difference between weather and climate?", 80),
    ("How long should I steep green tea?", 40),
    ("What's a good stretch for a stiff neck?", 70),
    ("Write a two-line poem about coffee.", 30),
    ("How can I help my houseplants grow better?", 80),
    ("Can you recommend a board game for four players?", 60),
    ("What does a project manager do all day?", 80),
    ("Is a tomato a fruit or a vegetable?", 50),
    ("How do I get a coffee stain out of a cotton shirt?", 80),
    ("Summarise the story of Cinderella.", 80),
    ("What time zone is used in most of Japan?", 25),
]


def make_style() -> list[Row]:
    return [{"id": f"style-{index + 1:04d}", "prompt": prompt, "max_words": limit}
            for index, (prompt, limit) in enumerate(STYLE_ITEMS)]


# ---------------------------------------------------------------------------- code

# Functions to write: (signature, what it must do, reference solution, hidden tests). None of these
# functions (nor anything close) is among the bundled code training tasks; make_code.py checks names.
CODE_WRITE: list[tuple[str, str, str, list[str]]] = [
    ("count_uppercase(s)", "return how many uppercase letters the string s contains", """
        def count_uppercase(s):
            return sum(1 for ch in s if ch.isupper())
        """, ['assert count_uppercase("Hello World") == 2', 'assert count_uppercase("abc") == 0',
              'assert count_uppercase("ABC def G") == 4', 'assert count_uppercase("") == 0']),
    ("second_largest(nums)", "return the second largest distinct value in nums, which holds at least two different numbers", """
        def second_largest(nums):
            values = sorted(set(nums))
            return values[-2]
        """, ['assert second_largest([3, 9, 4]) == 4', 'assert second_largest([5, 5, 1]) == 1',
              'assert second_largest([-1, -7, -3]) == -3', 'assert second_largest([2, 8, 8, 6]) == 6']),
    ("is_palindrome_word(word)", "return True if word reads the same forwards and backwards, ignoring case, else False", """
        def is_palindrome_word(word):
            lowered = word.lower()
            return lowered == lowered[::-1]
        """, ['assert is_palindrome_word("Level") is True', 'assert is_palindrome_word("python") is False',
              'assert is_palindrome_word("a") is True', 'assert is_palindrome_word("Noon") is True']),
    ("capitalize_words(text)",
     "return text with the first letter of every space-separated word in upper case and the other letters unchanged", """
        def capitalize_words(text):
            return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
        """, ['assert capitalize_words("hello big world") == "Hello Big World"', 'assert capitalize_words("a") == "A"',
              'assert capitalize_words("already Done") == "Already Done"', 'assert capitalize_words("mIxed case") == "MIxed Case"']),
    ("average_of(nums)", "return the mean of the numbers in nums, or 0.0 when nums is empty", """
        def average_of(nums):
            if not nums:
                return 0.0
            return sum(nums) / len(nums)
        """, ['assert average_of([1, 2, 3, 4]) == 2.5', 'assert average_of([]) == 0.0', 'assert average_of([7]) == 7',
              'assert average_of([-2, 2]) == 0']),
    ("digit_sum(n)", "return the sum of the decimal digits of the non-negative integer n", """
        def digit_sum(n):
            return sum(int(digit) for digit in str(n))
        """, ['assert digit_sum(123) == 6', 'assert digit_sum(0) == 0', 'assert digit_sum(9999) == 36',
              'assert digit_sum(405) == 9']),
    ("has_duplicates(items)", "return True if some value occurs more than once in the list items, else False", """
        def has_duplicates(items):
            return len(set(items)) != len(items)
        """, ['assert has_duplicates([1, 2, 3, 1]) is True', 'assert has_duplicates([1, 2, 3]) is False',
              'assert has_duplicates([]) is False', 'assert has_duplicates(["a", "b", "a"]) is True']),
    ("longest_word(text)",
     "return the longest word in text (the first one if several are equally long), or an empty string for empty text", """
        def longest_word(text):
            best = ""
            for word in text.split():
                if len(word) > len(best):
                    best = word
            return best
        """, ['assert longest_word("a quick brown fox") == "quick"', 'assert longest_word("") == ""',
              'assert longest_word("hi yo") == "hi"', 'assert longest_word("elephant ant") == "elephant"']),
    ("invert_dict(d)", "return a new dictionary with the keys and values of d swapped (the values of d are all different)", """
        def invert_dict(d):
            return {value: key for key, value in d.items()}
        """, ['assert invert_dict({"a": 1, "b": 2}) == {1: "a", 2: "b"}', 'assert invert_dict({}) == {}',
              'assert invert_dict({"x": "y"}) == {"y": "x"}']),
    ("running_total(nums)", "return a list whose element i is the sum of nums[0] through nums[i]", """
        def running_total(nums):
            totals = []
            total = 0
            for n in nums:
                total += n
                totals.append(total)
            return totals
        """, ['assert running_total([1, 2, 3]) == [1, 3, 6]', 'assert running_total([]) == []',
              'assert running_total([5, -5, 5]) == [5, 0, 5]']),
    ("initials(name)", 'return the initials of a name in upper case, each followed by a dot, such as "M.C." for "Marie Curie"', """
        def initials(name):
            return "".join(word[0].upper() + "." for word in name.split())
        """, ['assert initials("Marie Curie") == "M.C."', 'assert initials("grace brewster hopper") == "G.B.H."',
              'assert initials("Plato") == "P."']),
    ("celsius_to_fahrenheit(c)", "return the temperature c, given in degrees Celsius, in degrees Fahrenheit", """
        def celsius_to_fahrenheit(c):
            return c * 9 / 5 + 32
        """, ['assert celsius_to_fahrenheit(0) == 32', 'assert celsius_to_fahrenheit(100) == 212',
              'assert celsius_to_fahrenheit(-40) == -40', 'assert celsius_to_fahrenheit(25) == 77']),
    ("unique_sorted(nums)", "return the distinct values of nums in increasing order, as a list", """
        def unique_sorted(nums):
            return sorted(set(nums))
        """, ['assert unique_sorted([3, 1, 3, 2]) == [1, 2, 3]', 'assert unique_sorted([]) == []',
              'assert unique_sorted([5, 5]) == [5]']),
    ("extract_hashtags(text)", 'return the words of text that start with "#", in order', """
        def extract_hashtags(text):
            return [word for word in text.split() if word.startswith("#")]
        """, ['assert extract_hashtags("sunny day #beach #fun") == ["#beach", "#fun"]',
              'assert extract_hashtags("no tags") == []', 'assert extract_hashtags("#one") == ["#one"]']),
    ("count_lines(text)", "return how many lines of text contain something other than whitespace", """
        def count_lines(text):
            return sum(1 for line in text.split("\\n") if line.strip())
        """, ['assert count_lines("a\\nb\\n\\nc") == 3', 'assert count_lines("") == 0', 'assert count_lines("one line") == 1',
              'assert count_lines("  \\n x \\n") == 1']),
    ("max_gap(nums)",
     "return the largest absolute difference between two neighbouring numbers in nums, or 0 if nums has fewer than two", """
        def max_gap(nums):
            if len(nums) < 2:
                return 0
            return max(abs(b - a) for a, b in zip(nums, nums[1:]))
        """, ['assert max_gap([1, 5, 2]) == 4', 'assert max_gap([7]) == 0', 'assert max_gap([10, 3, 4, 20]) == 16',
              'assert max_gap([]) == 0']),
    ("interleave(a, b)", "return a list alternating the elements of the equal-length lists a and b, starting with a[0]", """
        def interleave(a, b):
            result = []
            for x, y in zip(a, b):
                result += [x, y]
            return result
        """, ['assert interleave([1, 2], ["a", "b"]) == [1, "a", 2, "b"]', 'assert interleave([], []) == []',
              'assert interleave([0], [9]) == [0, 9]']),
    ("first_digit(s)", "return the first digit in the string s as an integer, or None if s has no digit", """
        def first_digit(s):
            for ch in s:
                if ch.isdigit():
                    return int(ch)
            return None
        """, ['assert first_digit("abc7d9") == 7', 'assert first_digit("none") is None', 'assert first_digit("42") == 4',
              'assert first_digit("") is None']),    # Items 31-80: the suite grew from 30 so that a change of pass@1 between two runs can stand out from noise.
    ("is_anagram(a, b)", "return True if the strings a and b use the same letters the same number of times, ignoring case and spaces, else False", """
        def is_anagram(a, b):
            def letters(s):
                return sorted(s.replace(" ", "").lower())
            return letters(a) == letters(b)
        """, ['assert is_anagram("listen", "silent") is True', 'assert is_anagram("Dormitory", "dirty room") is True',
              'assert is_anagram("abc", "abd") is False', 'assert is_anagram("aab", "ab") is False']),
    ("compress_runs(s)",
     'return s with each run of one repeated character written as the character followed by the length of the run, so "xxy" becomes "x2y1"', """
        def compress_runs(s):
            result = ""
            start = 0
            while start < len(s):
                end = start
                while end < len(s) and s[end] == s[start]:
                    end += 1
                result += s[start] + str(end - start)
                start = end
            return result
        """, ['assert compress_runs("aaabcc") == "a3b1c2"', 'assert compress_runs("") == ""', 'assert compress_runs("x") == "x1"',
              'assert compress_runs("aabaa") == "a2b1a2"']),
    ("camel_to_snake(name)",
     "return the camelCase name in snake_case: an underscore before each uppercase letter, and every letter in lower case", """
        def camel_to_snake(name):
            result = ""
            for ch in name:
                result += "_" + ch.lower() if ch.isupper() else ch
            return result
        """, ['assert camel_to_snake("parseHttpRequest") == "parse_http_request"', 'assert camel_to_snake("name") == "name"',
              'assert camel_to_snake("userId") == "user_id"', 'assert camel_to_snake("") == ""']),
    ("strip_punctuation(text)", "return text with every character that is not a letter, a digit or a space removed", """
        def strip_punctuation(text):
            return "".join(ch for ch in text if ch.isalnum() or ch == " ")
        """, ['assert strip_punctuation("Hello, world!") == "Hello world"', "assert strip_punctuation(\"it's 5 o'clock.\") == \"its 5 oclock\"",
              'assert strip_punctuation("") == ""', 'assert strip_punctuation("a-b_c") == "abc"']),
    ("is_pangram(text)", "return True if text contains every letter from a to z at least once, ignoring case, else False", """
        def is_pangram(text):
            return set("abcdefghijklmnopqrstuvwxyz") <= set(text.lower())
        """, ['assert is_pangram("The quick brown fox jumps over the lazy dog") is True', 'assert is_pangram("Hello world") is False',
              'assert is_pangram("") is False', 'assert is_pangram("ABCDEFGHIJKLMNOPQRSTUVWXYZ") is True']),
    ("alternate_case(s)",
     "return s with the characters at even positions (0, 2, 4, ...) in upper case and those at odd positions in lower case", """
        def alternate_case(s):
            return "".join(ch.upper() if i % 2 == 0 else ch.lower() for i, ch in enumerate(s))
        """, ['assert alternate_case("hello") == "HeLlO"', 'assert alternate_case("") == ""', 'assert alternate_case("ABCD") == "AbCd"',
              'assert alternate_case("a b") == "A B"']),
    ("longest_run(s)", "return the length of the longest stretch of one character repeated back to back in s (0 for an empty string)", """
        def longest_run(s):
            best = 0
            current = 0
            for i, ch in enumerate(s):
                current = current + 1 if i > 0 and ch == s[i - 1] else 1
                best = max(best, current)
            return best
        """, ['assert longest_run("aabbbc") == 3', 'assert longest_run("") == 0', 'assert longest_run("abc") == 1',
              'assert longest_run("zzzz") == 4']),
    ("common_prefix(a, b)", "return the longest string that both a and b start with", """
        def common_prefix(a, b):
            length = 0
            while length < min(len(a), len(b)) and a[length] == b[length]:
                length += 1
            return a[:length]
        """, ['assert common_prefix("flower", "flow") == "flow"', 'assert common_prefix("dog", "cat") == ""',
              'assert common_prefix("same", "same") == "same"', 'assert common_prefix("", "abc") == ""']),
    ("caesar_shift(text, k)",
     "return text with every lowercase letter moved k places forward in the alphabet, wrapping from z back to a, and every other character unchanged", """
        def caesar_shift(text, k):
            result = ""
            for ch in text:
                if "a" <= ch <= "z":
                    ch = chr((ord(ch) - ord("a") + k) % 26 + ord("a"))
                result += ch
            return result
        """, ['assert caesar_shift("abc", 1) == "bcd"', 'assert caesar_shift("xyz", 3) == "abc"',
              'assert caesar_shift("hi there!", 0) == "hi there!"', 'assert caesar_shift("Ab z", 2) == "Ad b"']),
    ("is_hex_color(s)", 'return True if s is "#" followed by exactly six hexadecimal digits (0-9, a-f or A-F), else False', """
        def is_hex_color(s):
            return len(s) == 7 and s[0] == "#" and all(ch in "0123456789abcdefABCDEF" for ch in s[1:])
        """, ['assert is_hex_color("#1a2B3c") is True', 'assert is_hex_color("123456") is False', 'assert is_hex_color("#12345") is False',
              'assert is_hex_color("#12345g") is False', 'assert is_hex_color("#FFFFFF") is True']),
    ("count_pairs_with_sum(nums, target)", "return how many pairs of positions i < j in nums have nums[i] + nums[j] equal to target", """
        def count_pairs_with_sum(nums, target):
            count = 0
            for i in range(len(nums)):
                for j in range(i + 1, len(nums)):
                    if nums[i] + nums[j] == target:
                        count += 1
            return count
        """, ['assert count_pairs_with_sum([1, 2, 3, 4], 5) == 2', 'assert count_pairs_with_sum([], 3) == 0',
              'assert count_pairs_with_sum([2, 2, 2], 4) == 3', 'assert count_pairs_with_sum([1, 5], 7) == 0']),
    ("merge_sorted(a, b)", "return one list in increasing order holding every element of the lists a and b, which are each in increasing order already", """
        def merge_sorted(a, b):
            merged = []
            i = j = 0
            while i < len(a) and j < len(b):
                if a[i] <= b[j]:
                    merged.append(a[i])
                    i += 1
                else:
                    merged.append(b[j])
                    j += 1
            return merged + a[i:] + b[j:]
        """, ['assert merge_sorted([1, 4, 9], [2, 3, 10]) == [1, 2, 3, 4, 9, 10]', 'assert merge_sorted([], [5]) == [5]',
              'assert merge_sorted([1, 1], [1]) == [1, 1, 1]', 'assert merge_sorted([], []) == []']),
    ("most_common(items)", "return the value that occurs most often in the non-empty list items (on a tie, the one that occurs first)", """
        def most_common(items):
            best = items[0]
            for item in items:
                if items.count(item) > items.count(best):
                    best = item
            return best
        """, ['assert most_common([3, 1, 3, 2]) == 3', 'assert most_common(["b", "a", "a", "b"]) == "b"', 'assert most_common([7]) == 7',
              'assert most_common([1, 2, 2, 3, 3, 3]) == 3']),
    ("transpose(matrix)",
     "return the transpose of matrix, a non-empty list of rows of equal length, as a list of lists: row i of the result is column i of matrix", """
        def transpose(matrix):
            return [[row[i] for row in matrix] for i in range(len(matrix[0]))]
        """, ['assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]', 'assert transpose([[7]]) == [[7]]',
              'assert transpose([[1, 2]]) == [[1], [2]]']),
    ("dot_product(a, b)", "return the sum of the products of the elements of the equal-length lists a and b at the same positions", """
        def dot_product(a, b):
            return sum(x * y for x, y in zip(a, b))
        """, ['assert dot_product([1, 2, 3], [4, 5, 6]) == 32', 'assert dot_product([], []) == 0',
              'assert dot_product([2, -1], [3, 3]) == 3']),
    ("group_by_length(words)",
     "return a dictionary mapping each length of a word in the list words to the list of the words of that length, in their original order", """
        def group_by_length(words):
            groups = {}
            for word in words:
                groups.setdefault(len(word), []).append(word)
            return groups
        """, ['assert group_by_length(["hi", "yes", "no", "cat"]) == {2: ["hi", "no"], 3: ["yes", "cat"]}',
              'assert group_by_length([]) == {}', 'assert group_by_length(["a"]) == {1: ["a"]}']),
    ("is_sorted(nums)", "return True if every number in nums is at least as large as the one before it, else False", """
        def is_sorted(nums):
            return all(a <= b for a, b in zip(nums, nums[1:]))
        """, ['assert is_sorted([1, 2, 2, 5]) is True', 'assert is_sorted([3, 1]) is False', 'assert is_sorted([]) is True',
              'assert is_sorted([4, 5, 4]) is False']),
    ("missing_number(nums)",
     "return the one whole number from 0 to len(nums) that is missing from nums, which holds each of the others once, in any order", """
        def missing_number(nums):
            n = len(nums)
            return n * (n + 1) // 2 - sum(nums)
        """, ['assert missing_number([3, 0, 1]) == 2', 'assert missing_number([0]) == 1', 'assert missing_number([1]) == 0',
              'assert missing_number([]) == 0', 'assert missing_number([4, 2, 1, 0]) == 3']),
    ("diagonal_sum(matrix)", "return the sum of the numbers on the main diagonal (row i, column i) of a square matrix given as a list of rows", """
        def diagonal_sum(matrix):
            return sum(matrix[i][i] for i in range(len(matrix)))
        """, ['assert diagonal_sum([[1, 2], [3, 4]]) == 5', 'assert diagonal_sum([[5]]) == 5', 'assert diagonal_sum([]) == 0',
              'assert diagonal_sum([[1, 0, 0], [0, 2, 0], [9, 9, 3]]) == 6']),
    ("gcd_of(a, b)", "return the greatest common divisor of the positive integers a and b", """
        def gcd_of(a, b):
            while b:
                a, b = b, a % b
            return a
        """, ['assert gcd_of(12, 18) == 6', 'assert gcd_of(7, 5) == 1', 'assert gcd_of(10, 10) == 10', 'assert gcd_of(4, 100) == 4']),
    ("is_prime(n)", "return True if the whole number n is a prime number, else False (0 and 1 are not prime)", """
        def is_prime(n):
            if n < 2:
                return False
            for divisor in range(2, int(n ** 0.5) + 1):
                if n % divisor == 0:
                    return False
            return True
        """, ['assert is_prime(7) is True', 'assert is_prime(1) is False', 'assert is_prime(9) is False', 'assert is_prime(2) is True',
              'assert is_prime(97) is True']),
    ("count_divisors(n)", "return how many positive whole numbers divide the positive integer n exactly, 1 and n included", """
        def count_divisors(n):
            return sum(1 for divisor in range(1, n + 1) if n % divisor == 0)
        """, ['assert count_divisors(12) == 6', 'assert count_divisors(1) == 1', 'assert count_divisors(13) == 2',
              'assert count_divisors(16) == 5']),
    ("to_binary(n)", "return the binary digits of the non-negative integer n as a string, without any prefix", """
        def to_binary(n):
            return bin(n)[2:]
        """, ['assert to_binary(5) == "101"', 'assert to_binary(0) == "0"', 'assert to_binary(8) == "1000"',
              'assert to_binary(255) == "11111111"']),
    ("is_perfect_square(n)", "return True if the non-negative integer n is the square of a whole number, else False", """
        def is_perfect_square(n):
            root = 0
            while root * root < n:
                root += 1
            return root * root == n
        """, ['assert is_perfect_square(16) is True', 'assert is_perfect_square(0) is True', 'assert is_perfect_square(15) is False',
              'assert is_perfect_square(1) is True', 'assert is_perfect_square(50) is False']),
    ("collatz_steps(n)",
     "return how many steps take the positive integer n to 1, where a step halves an even number and turns an odd number k into 3 * k + 1", """
        def collatz_steps(n):
            steps = 0
            while n != 1:
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                steps += 1
            return steps
        """, ['assert collatz_steps(6) == 8', 'assert collatz_steps(1) == 0', 'assert collatz_steps(2) == 1', 'assert collatz_steps(7) == 16']),
    ("triangle_kind(a, b, c)",
     'return "equilateral" if the three side lengths a, b and c are all equal, "isosceles" if exactly two are equal and "scalene" if all differ', """
        def triangle_kind(a, b, c):
            if a == b == c:
                return "equilateral"
            if a == b or b == c or a == c:
                return "isosceles"
            return "scalene"
        """, ['assert triangle_kind(3, 4, 5) == "scalene"', 'assert triangle_kind(2, 2, 2) == "equilateral"',
              'assert triangle_kind(5, 3, 5) == "isosceles"', 'assert triangle_kind(1, 2, 2) == "isosceles"']),
    ("fibonacci(n)",
     "return the n-th Fibonacci number for a whole number n >= 0, where fibonacci(0) is 0, fibonacci(1) is 1 and each later one is the sum of the two before it", """
        def fibonacci(n):
            a, b = 0, 1
            for _ in range(n):
                a, b = b, a + b
            return a
        """, ['assert fibonacci(10) == 55', 'assert fibonacci(0) == 0', 'assert fibonacci(1) == 1', 'assert fibonacci(2) == 1',
              'assert fibonacci(7) == 13']),
    ("sum_numbers_in(text)",
     'return the sum of the whole numbers written in text, a number being a run of digits ("2 cats and 10 dogs" gives 12), or 0 if there are none', """
        def sum_numbers_in(text):
            total = 0
            digits = ""
            for ch in text + " ":
                if ch.isdigit():
                    digits += ch
                elif digits:
                    total += int(digits)
                    digits = ""
            return total
        """, ['assert sum_numbers_in("room 101, floor 7") == 108', 'assert sum_numbers_in("none here") == 0',
              'assert sum_numbers_in("a1b22c333") == 356', 'assert sum_numbers_in("") == 0']),
    ("parse_duration(text)",
     'return the number of minutes in a duration written like "2h15m", "3h" or "40m" (hours before minutes; either part may be missing)', """
        def parse_duration(text):
            minutes = 0
            number = ""
            for ch in text:
                if ch.isdigit():
                    number += ch
                elif ch == "h":
                    minutes += int(number) * 60
                    number = ""
                elif ch == "m":
                    minutes += int(number)
                    number = ""
            return minutes
        """, ['assert parse_duration("1h30m") == 90', 'assert parse_duration("2h") == 120', 'assert parse_duration("45m") == 45',
              'assert parse_duration("10h5m") == 605']),
    ("parse_money(text)", 'return the amount of a price written like "$12,345.67" as a number, without the "$" sign and the thousands commas', """
        def parse_money(text):
            return float(text.replace("$", "").replace(",", ""))
        """, ['assert parse_money("$1,234.50") == 1234.5', 'assert parse_money("$0.99") == 0.99', 'assert parse_money("$7") == 7',
              'assert parse_money("$1,000,000") == 1000000']),
]

# Functions to fix: (signature, what it must do, reference solution, broken version, the failing test
# the prompt shows, hidden tests).
CODE_DEBUG: list[tuple[str, str, str, str, str, list[str]]] = [
    ("product_of(nums)", "return the product of the numbers in nums (1 for an empty list)", """
        def product_of(nums):
            result = 1
            for n in nums:
                result *= n
            return result
        """, """
        def product_of(nums):
            result = 0
            for n in nums:
                result *= n
            return result
        """, "assert product_of([2, 3, 4]) == 24",
     ["assert product_of([2, 3, 4]) == 24", "assert product_of([]) == 1", "assert product_of([5]) == 5",
      "assert product_of([-1, 6]) == -6"]),
    ("count_starting_with(words, letter)", "return how many strings in words begin with letter", """
        def count_starting_with(words, letter):
            return sum(1 for word in words if word.startswith(letter))
        """, """
        def count_starting_with(words, letter):
            return sum(1 for word in words if word.endswith(letter))
        """, 'assert count_starting_with(["apple", "avocado", "banana"], "a") == 2',
     ['assert count_starting_with(["apple", "avocado", "banana"], "a") == 2', 'assert count_starting_with([], "x") == 0',
      'assert count_starting_with(["cat", "dog"], "d") == 1']),
    ("factorial(n)", "return n! = 1 * 2 * ... * n for a whole number n >= 0 (0! is 1)", """
        def factorial(n):
            result = 1
            for i in range(2, n + 1):
                result *= i
            return result
        """, """
        def factorial(n):
            result = 1
            for i in range(1, n):
                result *= i
            return result
        """, "assert factorial(5) == 120",
     ["assert factorial(5) == 120", "assert factorial(0) == 1", "assert factorial(1) == 1", "assert factorial(3) == 6"]),
    ("is_leap_year(year)",
     "return True if year is a leap year (divisible by 4, except years divisible by 100 that are not divisible by 400)", """
        def is_leap_year(year):
            return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        """, """
        def is_leap_year(year):
            return year % 4 == 0 and year % 100 != 0
        """, "assert is_leap_year(2000) is True",
     ["assert is_leap_year(2000) is True", "assert is_leap_year(2024) is True", "assert is_leap_year(1900) is False",
      "assert is_leap_year(2023) is False"]),
    ("reverse_word_order(text)", "return the words of text in reverse order, joined by single spaces", """
        def reverse_word_order(text):
            return " ".join(text.split()[::-1])
        """, """
        def reverse_word_order(text):
            return text[::-1]
        """, 'assert reverse_word_order("one two three") == "three two one"',
     ['assert reverse_word_order("one two three") == "three two one"', 'assert reverse_word_order("solo") == "solo"',
      'assert reverse_word_order("") == ""']),
    ("min_index(nums)", "return the index of the smallest number in the non-empty list nums (the first one on ties)", """
        def min_index(nums):
            return nums.index(min(nums))
        """, """
        def min_index(nums):
            return min(nums)
        """, "assert min_index([4, 2, 7]) == 1",
     ["assert min_index([4, 2, 7]) == 1", "assert min_index([1, 5]) == 0", "assert min_index([3, 3, 0]) == 2"]),
    ("remove_duplicates_keep_order(items)",
     "return items without repeated values, keeping the first occurrence of each in its original order", """
        def remove_duplicates_keep_order(items):
            result = []
            for item in items:
                if item not in result:
                    result.append(item)
            return result
        """, """
        def remove_duplicates_keep_order(items):
            return list(set(items))
        """, "assert remove_duplicates_keep_order([3, 1, 3, 2]) == [3, 1, 2]",
     ["assert remove_duplicates_keep_order([3, 1, 3, 2]) == [3, 1, 2]", "assert remove_duplicates_keep_order([]) == []",
      "assert remove_duplicates_keep_order([5, 4, 5, 3, 4]) == [5, 4, 3]"]),  # ints: set order does not vary
    ("triangle_area(base, height)", "return the area of a triangle with the given base and height", """
        def triangle_area(base, height):
            return base * height / 2
        """, """
        def triangle_area(base, height):
            return base * height // 2
        """, "assert triangle_area(3, 5) == 7.5",
     ["assert triangle_area(3, 5) == 7.5", "assert triangle_area(4, 2) == 4", "assert triangle_area(10, 1) == 5"]),
    ("count_digits(n)", "return how many decimal digits the non-negative integer n has (0 has one digit)", """
        def count_digits(n):
            return len(str(n))
        """, """
        def count_digits(n):
            count = 0
            while n > 0:
                n //= 10
                count += 1
            return count
        """, "assert count_digits(0) == 1",
     ["assert count_digits(0) == 1", "assert count_digits(7) == 1", "assert count_digits(12345) == 5",
      "assert count_digits(100) == 3"]),
    ("ends_with_vowel(word)", "return True if the non-empty string word ends with a vowel (a, e, i, o, u, in either case)", """
        def ends_with_vowel(word):
            return word[-1].lower() in "aeiou"
        """, """
        def ends_with_vowel(word):
            return word[0].lower() in "aeiou"
        """, 'assert ends_with_vowel("piano") is True',
     ['assert ends_with_vowel("piano") is True', 'assert ends_with_vowel("open") is False',
      'assert ends_with_vowel("TUTU") is True', 'assert ends_with_vowel("cat") is False']),
    ("safe_divide(a, b)", "return a divided by b, or None when b is 0", """
        def safe_divide(a, b):
            if b == 0:
                return None
            return a / b
        """, """
        def safe_divide(a, b):
            if a == 0:
                return None
            return a / b
        """, "assert safe_divide(4, 0) is None",
     ["assert safe_divide(4, 0) is None", "assert safe_divide(9, 3) == 3", "assert safe_divide(0, 5) == 0",
      "assert safe_divide(1, 4) == 0.25"]),
    ("letter_grade(score)", 'return "A" for a score of 90 or more, "B" for 80 to 89, "C" for 70 to 79 and "F" below 70', """
        def letter_grade(score):
            if score >= 90:
                return "A"
            if score >= 80:
                return "B"
            if score >= 70:
                return "C"
            return "F"
        """, """
        def letter_grade(score):
            if score > 90:
                return "A"
            if score > 80:
                return "B"
            if score > 70:
                return "C"
            return "F"
        """, 'assert letter_grade(90) == "A"',
     ['assert letter_grade(90) == "A"', 'assert letter_grade(95) == "A"', 'assert letter_grade(85) == "B"',
      'assert letter_grade(70) == "C"', 'assert letter_grade(12) == "F"']),    # Items 31-80 (see CODE_WRITE).
    ("median_of(nums)",
     "return the median of the non-empty list nums: the middle value once sorted, or the mean of the two middle values when the length is even", """
        def median_of(nums):
            ordered = sorted(nums)
            middle = len(ordered) // 2
            if len(ordered) % 2 == 1:
                return ordered[middle]
            return (ordered[middle - 1] + ordered[middle]) / 2
        """, """
        def median_of(nums):
            middle = len(nums) // 2
            if len(nums) % 2 == 1:
                return nums[middle]
            return (nums[middle - 1] + nums[middle]) / 2
        """, "assert median_of([3, 1, 2]) == 2",
     ["assert median_of([3, 1, 2]) == 2", "assert median_of([4, 1, 3, 2]) == 2.5", "assert median_of([5]) == 5",
      "assert median_of([1, 2]) == 1.5"]),
    ("lcm_of(a, b)", "return the least common multiple of the positive integers a and b", """
        def lcm_of(a, b):
            multiple = max(a, b)
            while multiple % a != 0 or multiple % b != 0:
                multiple += 1
            return multiple
        """, """
        def lcm_of(a, b):
            return a * b
        """, "assert lcm_of(4, 6) == 12",
     ["assert lcm_of(4, 6) == 12", "assert lcm_of(3, 5) == 15", "assert lcm_of(7, 7) == 7", "assert lcm_of(2, 8) == 8"]),
    ("clock_time(seconds)", 'return a whole number of seconds written as "H:MM:SS", with minutes and seconds always two digits', """
        def clock_time(seconds):
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            return f"{hours}:{minutes:02d}:{secs:02d}"
        """, """
        def clock_time(seconds):
            hours, rest = divmod(seconds, 3600)
            minutes, secs = divmod(rest, 60)
            return f"{hours}:{minutes}:{secs}"
        """, 'assert clock_time(3723) == "1:02:03"',
     ['assert clock_time(3723) == "1:02:03"', 'assert clock_time(0) == "0:00:00"', 'assert clock_time(45296) == "12:34:56"',
      'assert clock_time(59) == "0:00:59"']),
    ("average_word_length(text)",
     "return the mean number of characters per word of text (words are separated by whitespace), or 0.0 if text has no words", """
        def average_word_length(text):
            words = text.split()
            if not words:
                return 0.0
            return sum(len(word) for word in words) / len(words)
        """, """
        def average_word_length(text):
            words = text.split()
            if not words:
                return 0.0
            return len(text) / len(words)
        """, 'assert average_word_length("hi there") == 3.5',
     ['assert average_word_length("hi there") == 3.5', 'assert average_word_length("") == 0.0', 'assert average_word_length("abc") == 3',
      'assert average_word_length("a bb ccc") == 2']),
    ("digits_to_int(digits)", "return the whole number whose decimal digits, from left to right, are the elements of the list digits", """
        def digits_to_int(digits):
            number = 0
            for digit in digits:
                number = number * 10 + digit
            return number
        """, """
        def digits_to_int(digits):
            number = 0
            for digit in digits:
                number = number + digit * 10
            return number
        """, "assert digits_to_int([1, 2, 3]) == 123",
     ["assert digits_to_int([1, 2, 3]) == 123", "assert digits_to_int([0]) == 0", "assert digits_to_int([9]) == 9",
      "assert digits_to_int([4, 0, 7]) == 407"]),
    ("distance(x1, y1, x2, y2)", "return the straight-line distance between the points (x1, y1) and (x2, y2)", """
        def distance(x1, y1, x2, y2):
            return ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        """, """
        def distance(x1, y1, x2, y2):
            return (x2 - x1) ** 2 + (y2 - y1) ** 2
        """, "assert distance(0, 0, 3, 4) == 5",
     ["assert distance(0, 0, 3, 4) == 5", "assert distance(1, 1, 1, 1) == 0", "assert distance(-1, 2, 5, 10) == 10",
      "assert distance(2, 0, 0, 0) == 2"]),
    ("apply_discount(price, percent)", "return price reduced by percent per cent", """
        def apply_discount(price, percent):
            return price - price * percent / 100
        """, """
        def apply_discount(price, percent):
            return price - percent
        """, "assert apply_discount(50, 10) == 45",
     ["assert apply_discount(50, 10) == 45", "assert apply_discount(100, 20) == 80", "assert apply_discount(19, 0) == 19",
      "assert apply_discount(80, 25) == 60"]),
    ("merge_dicts(a, b)",
     "return a new dictionary with the entries of both a and b, taking the value from b when a key is in both, and leave a and b unchanged", """
        def merge_dicts(a, b):
            merged = dict(a)
            merged.update(b)
            return merged
        """, """
        def merge_dicts(a, b):
            return a.update(b)
        """, 'assert merge_dicts({"x": 1}, {"y": 2}) == {"x": 1, "y": 2}',
     ['assert merge_dicts({"x": 1}, {"y": 2}) == {"x": 1, "y": 2}', 'assert merge_dicts({"k": 1}, {"k": 5}) == {"k": 5}',
      'assert merge_dicts({}, {}) == {}', 'assert merge_dicts(first := {"x": 1}, {"x": 2}) == {"x": 2} and first == {"x": 1}']),
    ("sort_by_length(words)",
     "return the strings of the list words ordered from shortest to longest, keeping their original order when two have the same length", """
        def sort_by_length(words):
            return sorted(words, key=len)
        """, """
        def sort_by_length(words):
            return sorted(words)
        """, 'assert sort_by_length(["pear", "fig", "banana"]) == ["fig", "pear", "banana"]',
     ['assert sort_by_length(["pear", "fig", "banana"]) == ["fig", "pear", "banana"]', 'assert sort_by_length([]) == []',
      'assert sort_by_length(["bb", "aa", "c"]) == ["c", "bb", "aa"]', 'assert sort_by_length(["one"]) == ["one"]']),
    ("hamming_distance(a, b)", "return at how many positions the equal-length strings a and b have different characters", """
        def hamming_distance(a, b):
            return sum(1 for x, y in zip(a, b) if x != y)
        """, """
        def hamming_distance(a, b):
            return sum(1 for x, y in zip(a, b) if x == y)
        """, 'assert hamming_distance("karolin", "kathrin") == 3',
     ['assert hamming_distance("karolin", "kathrin") == 3', 'assert hamming_distance("", "") == 0',
      'assert hamming_distance("abc", "abc") == 0', 'assert hamming_distance("0000", "1111") == 4']),
    ("is_strong_password(password)",
     "return True if password has at least 8 characters, at least one digit and at least one uppercase letter, else False", """
        def is_strong_password(password):
            has_digit = any(ch.isdigit() for ch in password)
            has_upper = any(ch.isupper() for ch in password)
            return len(password) >= 8 and has_digit and has_upper
        """, """
        def is_strong_password(password):
            has_digit = any(ch.isdigit() for ch in password)
            has_upper = any(ch.isupper() for ch in password)
            return len(password) >= 8 and (has_digit or has_upper)
        """, 'assert is_strong_password("longpassword1") is False',
     ['assert is_strong_password("longpassword1") is False', 'assert is_strong_password("Secret123") is True',
      'assert is_strong_password("Sh0rt") is False', 'assert is_strong_password("NODIGITSHERE") is False']),
    ("english_list(words)",
     'return the strings of the list words joined as in English: "x" for one, "x and y" for two, "x, y and z" for three or more, "" for none', """
        def english_list(words):
            if len(words) <= 1:
                return "".join(words)
            return ", ".join(words[:-1]) + " and " + words[-1]
        """, """
        def english_list(words):
            if len(words) <= 1:
                return "".join(words)
            return ", ".join(words[:-1]) + ", and " + words[-1]
        """, 'assert english_list(["red", "green", "blue"]) == "red, green and blue"',
     ['assert english_list(["red", "green", "blue"]) == "red, green and blue"', 'assert english_list(["tea"]) == "tea"',
      'assert english_list(["tea", "milk"]) == "tea and milk"', 'assert english_list([]) == ""']),
    ("percent_change(old, new)", "return the change from old to new as a percentage of old (negative for a fall)", """
        def percent_change(old, new):
            return (new - old) / old * 100
        """, """
        def percent_change(old, new):
            return (new - old) / new * 100
        """, "assert percent_change(20, 30) == 50",
     ["assert percent_change(20, 30) == 50", "assert percent_change(50, 25) == -50", "assert percent_change(8, 8) == 0",
      "assert percent_change(4, 5) == 25"]),
    ("ordinal(n)", 'return the positive integer n followed by its English ordinal suffix: "1st", "2nd", "3rd", "4th", "11th", "21st" and so on', """
        def ordinal(n):
            if n % 100 in (11, 12, 13):
                return f"{n}th"
            return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        """, """
        def ordinal(n):
            return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        """, 'assert ordinal(12) == "12th"',
     ['assert ordinal(12) == "12th"', 'assert ordinal(1) == "1st"', 'assert ordinal(22) == "22nd"', 'assert ordinal(113) == "113th"',
      'assert ordinal(4) == "4th"']),
    ("safe_get(items, index, default)", "return items[index] when index is a valid non-negative position in the list items, else default", """
        def safe_get(items, index, default):
            if 0 <= index < len(items):
                return items[index]
            return default
        """, """
        def safe_get(items, index, default):
            if 0 <= index <= len(items):
                return items[index]
            return default
        """, "assert safe_get([1, 2, 3], 3, 0) == 0",
     ["assert safe_get([1, 2, 3], 3, 0) == 0", "assert safe_get([1, 2, 3], 1, 0) == 2", 'assert safe_get([], 0, "none") == "none"',
      'assert safe_get(["a"], -1, "x") == "x"']),
    ("strip_comment(line)", 'return a line of Python code without its comment: the text before the first "#", with trailing spaces removed', """
        def strip_comment(line):
            return line.split("#")[0].rstrip()
        """, """
        def strip_comment(line):
            return line.split("#")[0]
        """, 'assert strip_comment("x = 1  # one") == "x = 1"',
     ['assert strip_comment("x = 1  # one") == "x = 1"', 'assert strip_comment("print(2)") == "print(2)"',
      'assert strip_comment("# only a comment") == ""', 'assert strip_comment("y = 3#") == "y = 3"']),
    ("heading_level(line)", 'return how many "#" characters the line starts with, before any other character (0 if it does not start with "#")', """
        def heading_level(line):
            return len(line) - len(line.lstrip("#"))
        """, """
        def heading_level(line):
            return line.count("#")
        """, 'assert heading_level("## Title #2") == 2',
     ['assert heading_level("## Title #2") == 2', 'assert heading_level("plain text") == 0', 'assert heading_level("# Intro") == 1',
      'assert heading_level("") == 0', 'assert heading_level("### C# notes") == 3']),
    ("rectangle_perimeter(width, height)", "return the perimeter of a rectangle with the given width and height", """
        def rectangle_perimeter(width, height):
            return 2 * (width + height)
        """, """
        def rectangle_perimeter(width, height):
            return 2 * width + height
        """, "assert rectangle_perimeter(3, 4) == 14",
     ["assert rectangle_perimeter(3, 4) == 14", "assert rectangle_perimeter(1, 1) == 4", "assert rectangle_perimeter(10, 0) == 20",
      "assert rectangle_perimeter(2.5, 1) == 7"]),
    ("phone_digits(number)", "return only the digits of the phone number written in the string number, in order, as a string", """
        def phone_digits(number):
            return "".join(ch for ch in number if ch.isdigit())
        """, """
        def phone_digits(number):
            return number.replace("-", "").replace(" ", "")
        """, 'assert phone_digits("(555) 123-4567") == "5551234567"',
     ['assert phone_digits("(555) 123-4567") == "5551234567"', 'assert phone_digits("555-0100") == "5550100"',
      'assert phone_digits("") == ""', 'assert phone_digits("+44 20 7946 0958") == "442079460958"']),
    ("count_word(text, word)", "return how many of the whitespace-separated words of text are equal to word, ignoring case", """
        def count_word(text, word):
            return sum(1 for candidate in text.lower().split() if candidate == word.lower())
        """, """
        def count_word(text, word):
            return text.lower().count(word.lower())
        """, 'assert count_word("The theme of the day", "the") == 2',
     ['assert count_word("The theme of the day", "the") == 2', 'assert count_word("", "a") == 0',
      'assert count_word("Go go GO", "go") == 3', 'assert count_word("cat dog", "bird") == 0']),
]
CODE_ORDER = "wdwdw"  # 3 writes and 2 fixes, repeated: any prefix mixes both kinds


def code_tasks() -> list[tuple[str, Any]]:
    """``(kind, Task)`` for every code item, in file order."""
    from datagen.make_code import Bug, Task

    def dedent(code: str) -> str:
        return textwrap.dedent(code).strip("\n")

    writes = [Task("", signature, does, dedent(solution), tuple(tests)) for signature, does, solution, tests in CODE_WRITE]
    fixes = [Task("", signature, does, dedent(solution), tuple(tests), Bug(dedent(broken), failing, ""))
             for signature, does, solution, broken, failing, tests in CODE_DEBUG]
    ordered = []
    while writes or fixes:
        for kind in CODE_ORDER:
            source = writes if kind == "w" else fixes
            if source:
                ordered.append(("write" if kind == "w" else "debug", source.pop(0)))
    return ordered


def make_code() -> list[Row]:
    """The ``code`` suite's items, in the training sets' prompt forms; raises SystemExit if a reference
    solution fails its tests or a broken function passes the test its prompt shows (run in the sandbox)."""
    from datagen.make_code import (
        Item,
        call_checks,
        debug_prompt,
        sandbox_failures,
        write_prompt,
    )

    tasks = code_tasks()
    problems = sandbox_failures([Item(task, kind) for kind, task in tasks])
    if problems:
        raise SystemExit("code items that do not check out:\n" + "\n".join(problems))
    rows = []
    for index, (kind, task) in enumerate(tasks):
        prompt = write_prompt(task, 0, with_example=True) if kind == "write" else debug_prompt(task, 0)
        row = {"id": f"code-{index + 1:04d}", "prompt": prompt, "entry_point": task.entry_point,
               "tests": call_checks(task, strict=False), "kind": kind, "solution": task.solution}
        rows.append(row | ({"broken": task.bug.code} if task.bug else {}))
    return rows


# ---------------------------------------------------------------------------- build

def build(seed: int = 0) -> dict[str, list[Row]]:
    """Every suite's rows; raises SystemExit if an eval prompt occurs in the training data or twice here."""
    train_turns = training_prompts()
    safety = make_safety()
    suites = {
        "math": make_math(train_turns, seed=seed),
        "instruction-following": make_instruction_following(seed=seed),
        "safety": safety,
        "red-team": make_red_team(safety, train_turns),
        "everyday": make_everyday(),
        "seeds": make_seeds(),
        "tool-use": make_tool_use(),
        "multi-turn": make_multi_turn(),
        "style": make_style(),
        "code": make_code(),
    }
    leaked = [turn for rows in suites.values() for turn in overlaps(rows, train_turns)]
    if leaked:
        raise SystemExit(f"eval prompts found in the training data: {leaked}")
    last_turns = Counter(normalise_prompt(list(user_turns(row))[-1]) for rows in suites.values() for row in rows)
    repeated = [turn for turn, count in last_turns.items() if count > 1]
    if repeated:
        raise SystemExit(f"eval prompts used twice: {repeated}")
    return suites


def card(suites: dict[str, list[Row]]) -> str:
    def kinds(rows: list[Row], key: str) -> str:
        counts = Counter(str(row.get(key)) for row in rows)
        return ", ".join(f"{kind} {count}" for kind, count in counts.items())

    tool_kinds = Counter(row["expect"] if isinstance(row["expect"], str) else "call" for row in suites["tool-use"])
    lines = {
        "math": f"{kinds(suites['math'], 'kind')}; exact match of the final number; 48 new tokens",
        "instruction-following": (f"{len(IF_HANDWRITTEN)} hand-written, {len(suites['instruction-following']) - len(IF_HANDWRITTEN)} "
                                  f"from {len(IF_TEMPLATES)} templates x {len(IF_TOPICS)} topics; "
                                  f"{sum(len(r['constraints']) for r in suites['instruction-following'])} constraints; 128 new tokens"),
        "safety": (f"harmful {sum(r['harmful'] for r in suites['safety'])} "
                   f"({kinds([r for r in suites['safety'] if r['harmful']], 'category')}), benign "
                   f"{sum(not r['harmful'] for r in suites['safety'])} "
                   f"({kinds([r for r in suites['safety'] if not r['harmful']], 'category')}); 64 new tokens"),
        "red-team": (f"{len({r['wrapper'] for r in suites['red-team']})} jailbreak wrappers "
                     f"({', '.join(dict.fromkeys(r['wrapper'] for r in suites['red-team']))}) around harmful "
                     f"{sum(r['harmful'] for r in suites['red-team'])} (one per harm category each) and benign "
                     f"{sum(not r['harmful'] for r in suites['red-team'])} requests; 64 new tokens"),
        "everyday": f"{kinds(suites['everyday'], 'kind')} (the answer should ask what is missing); 96 new tokens",
        "seeds": (f"the brief's {len(suites['seeds'])} examples, each with its check "
                  f"({', '.join(r['check'] for r in suites['seeds'])}); 192 new tokens"),
        "tool-use": (f"expected call {tool_kinds['call']}, no call {tool_kinds['no_call']}, ask for missing information "
                     f"{tool_kinds['ask']}; {len(TOOLS)} tool schemas, 2 offered per item; 64 new tokens"),
        "multi-turn": f"{kinds(suites['multi-turn'], 'kind')}; 64 new tokens",
        "style": "everyday questions with a hand-set word budget each (20-80 words); 128 new tokens",
        "code": (f"{kinds(suites['code'], 'kind')}: write a short Python function, or fix a broken one given a "
                 "failing test; hidden tests run in the sandbox; 256 new tokens"),
    }
    table = "\n".join(f"| `{name}` | `{FILES[name]}` | {len(rows)} | {lines[name]} |" for name, rows in suites.items())
    total = sum(len(rows) for rows in suites.values())
    return CARD_TEMPLATE.format(table=table, total=total)


CARD_TEMPLATE = """# Bundled evaluation data

Items for `posttrain eval`, one JSONL file per suite, written for this project. The default sizes keep
`posttrain eval smollm2-135m --suite math instruction-following safety red-team everyday seeds tool-use
multi-turn style` to a few minutes on 2 CPU cores. The `helpfulness` suite reuses the style prompts.

| Suite | File | Items | What is in it |
|---|---|---|---|
{table}
| **total** | | **{total}** | |

## Format

One JSON object per line with an `id` and either `prompt` (one user message) or `messages` (a chat
ending with a user turn), plus what the suite's scorer needs: `answer` (math), `constraints`
(instruction-following, checked by `posttrain.rewards.ifeval`), `harmful` and `category` (safety;
red-team adds the `wrapper` and the bare `request`), `kind` and `missing` (everyday), `check` (seeds),
`tools` and `expect` (tool-use), `expect` and `forbid` keywords (multi-turn), `max_words` (style),
`entry_point`, `tests` (call checks judged outside `posttrain.sandbox`'s process; one assert) and `kind` (code; the reference
`solution` and, for fixes, the `broken` function ride along unread by the scorer). Rows are ordered
so that any prefix mixes the item kinds: `--limit N` takes the first N of each suite.

## How it was made

`make_eval.py` holds the hand-written items of most suites (instruction-following prompts, tool-use
requests and tool schemas, multi-turn conversations, style questions); the safety, red-team, everyday
and seeds requests are in `safety_items.py`, `red_team_items.py` and `everyday_items.py` next to it,
and the hand-labelled answers that measure the refusal classifier in `refusal_labels.py`. It has
two small generators: arithmetic (two- and three-digit sums and differences, products with a
one-digit factor) and five word-problem scenarios with seeded random operands, and a grid of eight
constraint templates over eight topics for instruction following. The code items are hand-written
functions with reference solutions; the generator runs every reference against its tests, and every
broken function against the test its prompt shows, in the sandbox, and refuses to write otherwise.
All randomness comes from `random.Random` seeded from `--seed` (default 0), so regenerating gives
byte-identical files:

```bash
python -m datagen.make_eval          # rewrite the JSONL files
python -m datagen.make_eval --card   # ... and this README
```

## Kept apart from training data

No user turn of an eval item equals a user turn of any training file the package ships
(`posttrain/data/bundled/*.jsonl`, held-out splits included) after normalisation (lowercase,
punctuation dropped, whitespace collapsed); the generator refuses to write otherwise and
`tests/eval/test_data.py` checks it on every test run, for future training files too. Arithmetic
operands that occur together in a training prompt are not reused, and the word-problem scenarios,
safety, red-team and everyday requests, and conversations were written fresh rather than rephrased
from the training set. The red-team suite's bare requests (before wrapping) are checked too: none is a
training prompt or a safety suite prompt. The code items are functions that no bundled code training task defines (checked
by name when the code sets are built).

This is a small set for tracking a model between training runs, not a broad benchmark: with 16-128
items per metric the 95% intervals are wide (about +/-0.18 at an accuracy of 0.5 with 30 items, +/-0.11
with the 80 code items, +/-0.06 at a refusal rate of 0.9 with the 128 harmful requests); the safety
suite's per-category rates rest on 16 items each. `posttrain compare` also gives a paired interval of each change, which is
narrower when the same items move together.
Items were written from general knowledge and not separately reviewed.

## The refusal classifier

The safety, red-team, everyday and seeds suites judge refusals with `posttrain.eval.refusal`
(rules over sentences: a decline in the opening, an answer that only points elsewhere or only warns).
`refusal_labels.py` holds 223 answers labelled by hand (plain and unusual refusals, redirects, partial
refusals, compliant answers, answers with disclaimers, answers that merely contain "I can't" or
"sorry, but", refusals followed by the content anyway), written in rounds before each change to the
rules. On all of them the classifier has precision 0.99 and recall 0.93 (the pattern list it replaced:
0.77 and 0.53); on the 32 written after the last change, 1.00 and 0.80 (before: 0.90 and 0.60).
`tests/eval/test_refusal.py` holds it to those figures. The training data generators do not use it.

## License

Written by the posttrain project and distributed under the same license as the project.
"""


def write_jsonl(path: str, rows: list[Row]) -> None:
    from posttrain.config import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--card", action="store_true", help="also rewrite README.md")
    args = parser.parse_args()
    suites = build(args.seed)
    for name, rows in suites.items():
        write_jsonl(os.path.join(HERE, FILES[name]), rows)
        print(f"{FILES[name]}: {len(rows)} items")
    if args.card:
        from posttrain.config import write_text_atomic

        write_text_atomic(CARD_FILE, card(suites))
        print(f"wrote {CARD_FILE}")


if __name__ == "__main__":
    main()
