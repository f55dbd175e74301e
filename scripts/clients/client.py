"""The same calls as client.ts, over the Python reference (/types/python) with the
`servicestack` package's JsonServiceClient."""

import sys

from servicestack import JsonServiceClient, WebServiceException

from dtos import (DeleteChatMember, GetSession, InviteChatMember, NewSession, NewSessionMember, SessionInfo,
                  SessionMemberRoles)


def main() -> None:
    base_url, token = sys.argv[1:3]
    client = JsonServiceClient(base_url)
    client.bearer_token = token

    created = client.post(NewSession(
        account_id="demo",
        members=[NewSessionMember(identity="+15550100003"),
                 NewSessionMember(identity="agent@example.com", role=SessionMemberRoles.AGENT)]))
    assert isinstance(created, SessionInfo), type(created)
    assert [m.identity for m in created.members] == ["+15550100003", "agent@example.com"], created.members

    invited = client.send(InviteChatMember(session_id=created.id, member_to_add="dave@example.com"))
    assert len(invited.members) == 3, invited.members

    removed = client.delete(DeleteChatMember(session_id=created.id, member_to_remove="dave@example.com"))
    assert [m.identity for m in removed.members] == ["+15550100003", "agent@example.com"], removed.members
    assert removed.members[1].role == SessionMemberRoles.AGENT, removed.members[1].role

    read = client.get(GetSession(session_id=created.id))
    assert any("dave@example.com" in entry.message for entry in read.log), read.log

    try:
        client.delete(DeleteChatMember(session_id=created.id, member_to_remove="dave@example.com"))
        raise AssertionError("a second removal is refused")
    except WebServiceException as error:
        assert error.status_code == 404 and error.response_status.error_code == "MemberNotFound", error
    print(f"python: ok (session {created.id})")


if __name__ == "__main__":
    main()
