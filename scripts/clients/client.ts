// A typed program over the TypeScript reference the service generated (dtos.ts, saved by
// @servicestack/cli): creates a session and removes a member through ServiceStack's own
// JsonServiceClient and its pre-defined routes, as a user of "Add ServiceStack Reference" would.
import { JsonServiceClient } from '@servicestack/client';
import {
    DeleteChatMember, GetSession, InviteChatMember, ListSessions, ListSessionsResponse, NewSession,
    NewSessionMember, SessionInfo, SessionMemberRoles,
} from './dtos';

function check(condition: boolean, what: string): void {
    if (!condition) throw new Error(`failed: ${what}`);
}

async function main(): Promise<void> {
    const [baseUrl, token] = process.argv.slice(2);
    const client = new JsonServiceClient(baseUrl);
    client.bearerToken = token;

    const created: SessionInfo = await client.post(new NewSession({
        accountId: 'demo',
        displayName: 'TypeScript reference',
        members: [
            new NewSessionMember({ identity: '+15550100001' }),
            new NewSessionMember({ identity: 'agent@example.com', role: SessionMemberRoles.Agent }),
        ],
    }));
    check(created.members.length === 2, 'NewSession answers both members');

    // send() takes the method from the DTO's getMethod(): POST.
    const invited: SessionInfo = await client.send(new InviteChatMember({ sessionId: created.id, memberToAdd: 'bob@example.com' }));
    check(invited.members.length === 3, 'InviteChatMember adds bob');

    const removed: SessionInfo = await client.delete(new DeleteChatMember({ sessionId: created.id, memberToRemove: 'bob@example.com' }));
    check(removed.members.map(m => m.identity).join() === '+15550100001,agent@example.com', 'DeleteChatMember removes bob');

    const read: SessionInfo = await client.get(new GetSession({ sessionId: created.id }));
    check(read.log.some(entry => entry.message.includes('bob@example.com')), 'the log tells the removal');

    const page: ListSessionsResponse = await client.get(new ListSessions({ specificIds: created.id }));
    check(page.items.length === 1 && page.items[0].id === created.id, 'ListSessions finds it');

    try {
        await client.delete(new DeleteChatMember({ sessionId: created.id, memberToRemove: 'bob@example.com' }));
        check(false, 'a second removal is refused');
    } catch (error: any) {
        check(error.responseStatus?.errorCode === 'MemberNotFound', `a typed error: ${JSON.stringify(error)}`);
    }
    console.log(`typescript: ok (session ${created.id})`);
}

main().catch(error => { console.error(error); process.exit(1); });
