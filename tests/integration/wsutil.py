"""Client helpers for the WebSocket tests (test_websocket_echo, test_proxy_ws), on Debian's
python3-websockets."""
import asyncio

import websockets


def run(coro):
    """coro run to its end on a fresh event loop, at most 60 s."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, 60))
    finally:
        loop.close()


def close_code_after(url, message):
    """Connects to url, sends message, and returns the code of the close frame the server
    answers with (None when it carries none, or when a message came instead)."""
    async def talk():
        async with websockets.connect(url) as ws:
            await ws.send(message)
            try:
                await ws.recv()
            except websockets.exceptions.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
    return run(talk())
