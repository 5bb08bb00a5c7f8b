"""The comparison server for the load benchmark: the Python original's stack
(FastMCP over Streamable HTTP, sessions on) serving the same `search_schools`
tool over the same bundled data. The search is a word-prefix match on
normalised names through an inverted index: simpler (no typo tolerance) and so
cheaper than ours, which keeps the comparison fair to Python.

Usage: python bench/fastmcp_server.py PORT
"""

import csv
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

from fastmcp import FastMCP

DATA = Path(__file__).resolve().parent.parent / "mcp-server" / "data"
FILLER = {"school", "schools", "the", "of", "and", "a"}


def normalise(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def load():
    schools = []
    with open(DATA / "kenya_schools.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            schools.append({
                "id": f"KE-{r['objectid']}", "name": r["school_name"], "country": "KE", "county": r["county"] or None,
                "sub_county": r["sub_county"] or None, "level": r["level"].lower(),
                "latitude": float(r["latitude"]), "longitude": float(r["longitude"]),
            })
    with open(DATA / "florida_public_schools.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            schools.append({
                "id": f"US-{r['NCESID']}", "name": r["NAME"], "country": "US", "county": r["COUNTY"], "sub_county": None,
                "level": r["LEVEL_"].lower(), "latitude": float(r["LATITUDE"]), "longitude": float(r["LONGITUDE"]),
            })
    index = defaultdict(set)
    for i, s in enumerate(schools):
        for word in normalise(s["name"]).split():
            for end in range(1, len(word) + 1):
                index[word[:end]].add(i)
    return schools, index


SCHOOLS, INDEX = load()
mcp = FastMCP("fastmcp-emis-baseline")


@mcp.tool
def search_schools(query: str = "", country: str | None = None, limit: int = 10, offset: int = 0) -> dict:
    """Search schools by name words (prefix match) and country."""
    words = [w for w in normalise(query).split() if w not in FILLER]
    if words:
        hits = set.intersection(*(INDEX.get(w, set()) for w in words))
        ranked = sorted(hits, key=lambda i: (len(SCHOOLS[i]["name"]), SCHOOLS[i]["id"]))
    else:
        ranked = range(len(SCHOOLS))
    if country:
        ranked = [i for i in ranked if SCHOOLS[i]["country"] == country.upper()]
    ranked = list(ranked)
    return {"total": len(ranked), "schools": [SCHOOLS[i] for i in ranked[offset:offset + limit]]}


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
