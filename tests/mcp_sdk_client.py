"""Drives the built mcp-server with the official MCP Python SDK, over stdio and
over Streamable HTTP, the way Claude Desktop and other Python clients do.

Usage: python tests/mcp_sdk_client.py path/to/mcp-server
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "find_schools_near",
    "get_content",
    "get_school",
    "list_regions",
    "school_statistics",
    "search_content",
    "search_schools",
}


async def exercise(session: ClientSession, transport: str) -> None:
    init = await session.initialize()
    assert init.server_info.name == "mas-mcp-server", init.server_info
    tools = {t.name for t in (await session.list_tools()).tools}
    assert tools == EXPECTED_TOOLS, tools

    found = await session.call_tool("search_schools", {"query": "bakwanim", "country": "KE"})
    assert not found.is_error, found.content
    assert found.structured_content["schools"][0]["id"] == "KE-1", found.structured_content

    stats = await session.call_tool("school_statistics", {"group_by": "country", "country": "US"})
    group = stats.structured_content["groups"][0]
    assert group["key"] == "US" and group["schools"] == 4337, group
    assert group["enrolment"] > 2_800_000, group

    bad = await session.call_tool("get_school", {"id": "KE-0"})
    assert bad.is_error and "no school has id" in bad.content[0].text, bad

    story = await session.read_resource("content://asp-ha-0001")
    assert "African Storybook" in story.contents[0].text
    print(f"python sdk over {transport}: ok ({len(tools)} tools, search, statistics, errors, resources)")


async def over_stdio(binary: str) -> None:
    params = StdioServerParameters(command=binary, args=["stdio"], env={**os.environ, "LOG_LEVEL": "warn"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session, "stdio")


async def over_http(binary: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "serve", "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await exercise(session, "streamable http")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    binary = sys.argv[1]
    asyncio.run(over_stdio(binary))
    asyncio.run(over_http(binary))
