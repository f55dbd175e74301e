// The same calls as client.ts, over the JavaScript (ES module) reference, /types/mjs.
import { JsonServiceClient } from '@servicestack/client';
import { DeleteChatMember, InviteChatMember, NewSession, NewSessionMember } from './dtos.mjs';

function check(condition, what) {
    if (!condition) throw new Error(`failed: ${what}`);
}

const [baseUrl, token] = process.argv.slice(2);
const client = new JsonServiceClient(baseUrl);
client.bearerToken = token;

const created = await client.post(new NewSession({
    accountId: 'demo',
    members: [new NewSessionMember({ identity: '+15550100002' }), new NewSessionMember({ identity: 'agent@example.com' })],
}));
check(created.members.length === 2, 'NewSession answers both members');
const invited = await client.send(new InviteChatMember({ sessionId: created.id, memberToAdd: 'carol@example.com' }));
check(invited.members.length === 3, 'InviteChatMember adds carol');
const removed = await client.send(new DeleteChatMember({ sessionId: created.id, memberToRemove: 'carol@example.com' }));
check(!removed.members.some(m => m.identity === 'carol@example.com'), 'DeleteChatMember removes carol');
console.log(`mjs: ok (session ${created.id})`);
