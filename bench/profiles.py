#!/usr/bin/env python3
"""bench/profiles.py - made-up matching profiles (docs/MATCHING.md layout) for
bench/match.sh and tests/e2e/matching.sh: MENTEES mentees and MENTORS mentors
with words drawn from fixed vocabularies, the same for the same SEED.

    bench/profiles.py MENTEES MENTORS SEED > profiles.json
"""
import json
import random
import sys

EXPECT = ["cv", "interviews", "networking", "career change", "confidence", "public speaking",
          "time management", "studies", "first job", "entrepreneurship", "languages",
          "work-life balance", "leadership", "digital skills", "negotiation"]
VALUES = ["honesty", "openness", "respect", "reliability", "curiosity", "solidarity",
          "independence", "family", "community", "creativity", "ambition", "patience"]
INTERESTS = ["sport", "music", "books", "technology", "travel", "cooking", "art", "nature",
             "volunteering", "film", "games", "science", "politics", "fashion"]
INDUSTRY = ["IT", "education", "health", "finance", "retail", "public sector", "NGO",
            "manufacturing", "media", "law"]
COMM = ["online", "face-to-face", "weekly", "fortnightly", "evenings", "weekends",
        "messages", "calls"]
PERSONALITY = ["calm", "energetic", "structured", "spontaneous", "reflective", "direct",
               "warm", "analytical"]
WORKPLACES = ["Firm %d" % i for i in range(60)]


def pick(rng, words, low, high):
    return rng.sample(words, rng.randint(low, high))


def main():
    mentees, mentors, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    out = {"mentors": [], "mentees": [], "constraints": {"never": []}}
    for i in range(mentors):
        out["mentors"].append({
            "username": "mentor%04d" % i, "workplace": rng.choice(WORKPLACES),
            "industry": rng.choice(INDUSTRY), "capacity": 1 if i % 6 == 0 else rng.randint(4, 5),
            "offers": pick(rng, EXPECT, 3, 7), "values": pick(rng, VALUES, 2, 5),
            "interests": pick(rng, INTERESTS, 2, 5), "communication": pick(rng, COMM, 1, 3),
            "personality": pick(rng, PERSONALITY, 1, 3), "motivation": rng.randint(2, 5)})
    for i in range(mentees):
        out["mentees"].append({
            "username": "mentee%04d" % i,
            "workplace": rng.choice(WORKPLACES) if rng.random() < 0.7 else "",
            "wants_industry": rng.choice(INDUSTRY) if rng.random() < 0.8 else "",
            "expectations": pick(rng, EXPECT, 1, 4), "values": pick(rng, VALUES, 2, 5),
            "interests": pick(rng, INTERESTS, 1, 5), "communication": pick(rng, COMM, 1, 3),
            "personality": pick(rng, PERSONALITY, 0, 2), "motivation": rng.randint(1, 5)})
    for _ in range(mentees // 20):
        out["constraints"]["never"].append(
            ["mentee%04d" % rng.randrange(mentees), "mentor%04d" % rng.randrange(mentors)])
    json.dump(out, sys.stdout, indent=1)


main()
