// Loads the metadata pages in headless Chromium (Debian's, driven by playwright-core): no
// console error on any page, every link answers 200, and the DeleteChatMember page carries the
// seed page's facts (docs/api.md, "Metadata pages").
import { chromium } from 'playwright-core';

const [baseUrl] = process.argv.slice(2);
const failures = [];
const fail = what => failures.push(what);

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
    const page = await browser.newPage();
    page.on('console', message => { if (message.type() === 'error') fail(`console error on ${page.url()}: ${message.text()}`); });
    page.on('pageerror', error => fail(`page error on ${page.url()}: ${error.message}`));
    page.on('requestfailed', request => fail(`request failed: ${request.url()}`));

    const visited = new Set();
    const pending = [`${baseUrl}/metadata`];
    while (pending.length > 0) {
        const url = pending.shift();
        if (visited.has(url)) continue;
        visited.add(url);
        // A reference or a JSON document is checked as a download; a page is loaded and read.
        const head = await page.request.get(url);
        if (head.status() !== 200) { fail(`${url} answered ${head.status()}`); continue; }
        if (!(head.headers()['content-type'] || '').startsWith('text/html')) continue;
        const response = await page.goto(url);
        if (!response || response.status() !== 200) { fail(`${url} answered ${response && response.status()}`); continue; }
        const links = await page.$$eval('a[href]', anchors => anchors.map(a => a.href));
        for (const link of links) {
            if (link.startsWith(baseUrl) && !visited.has(link)) pending.push(link);
        }
    }
    // /metadata, 10 operations in 4 formats, each in 8 languages and as tables, 9 references, openapi.
    if (visited.size < 1 + 10 * 4 * 9 + 9) fail(`only ${visited.size} pages reached by links`);

    await page.goto(`${baseUrl}/json/metadata?op=DeleteChatMember`);
    const text = await page.innerText('body');
    for (const fact of [
        'Evo Voice', '<back to all web services', 'DeleteChatMember', 'Removes the specified member from the chat',
        'Requires Authentication', 'Required role:User', 'The following routes are available for this service:',
        '/sessions/{sessionId}/members/{memberId}', 'DeleteChatMember Parameters:', 'memberToRemove', 'SessionInfo Parameters:',
        'SessionCallState Enum:', 'Passive', 'SessionMemberRoles Enum:',
        'To override the Content-type in your clients, use the HTTP Accept Header, append the .json suffix or ?format=json',
        'To embed the response in a jsonp callback, append ?callback=myCallback', 'HTTP + JSON',
        'DELETE /sessions/{sessionId}/members/{memberId} HTTP/1.1', 'HTTP/1.1 200 OK',
    ]) {
        if (!text.includes(fact)) fail(`the DeleteChatMember page lacks ${JSON.stringify(fact)}`);
    }
    await page.click('a#back');
    if (!page.url().endsWith('/metadata')) fail(`the back link went to ${page.url()}`);
    console.log(`pages: ${visited.size} pages and references loaded`);
} finally {
    await browser.close();
}
if (failures.length > 0) {
    console.error(failures.slice(0, 20).join('\n'));
    process.exit(1);
}
