# MEDIUM: asyncio with many tasks, queues, gather and sleeps.
import asyncio
async def worker(q, out):
    while True:
        item = await q.get()
        if item is None:
            q.task_done(); return
        await asyncio.sleep(0)
        out.append({"item": item, "sq": item * item, "s": str(item)})
        q.task_done()
async def leaf(i):
    await asyncio.sleep(0.0001 * (i % 5))
    return [i] * (i % 20)
async def main():
    q = asyncio.Queue()
    out = []
    ws = [asyncio.create_task(worker(q, out)) for _ in range(200)]
    for i in range(15000):
        q.put_nowait(i)
    for _ in ws:
        q.put_nowait(None)
    await q.join()
    res = await asyncio.gather(*(leaf(i) for i in range(5000)))
    print(len(out), sum(map(len, res)))
asyncio.run(main())
