use super::*;

fn reference(language: Language) -> String {
    let header =
        Header { date: "2026-12-05 13:00:00".to_owned(), base_url: "http://127.0.0.1:8080".to_owned() };
    language.reference(Service::get(), &header)
}

#[test]
fn every_reference_names_every_operation_and_type_under_the_options_header() {
    let service = Service::get();
    for language in Language::ALL {
        let source = reference(language);
        // What the ServiceStack tools look for before saving, and read back to update.
        assert!(source.contains("Options:\nDate: 2026-12-05 13:00:00\n"), "{language:?}");
        assert!(source.contains("\nBaseUrl: http://127.0.0.1:8080\n"), "{language:?}");
        for operation in &service.operations {
            assert!(source.contains(operation.name), "{language:?} lacks {}", operation.name);
        }
        for ty in &service.types {
            assert!(source.contains(&ty.name), "{language:?} lacks {}", ty.name);
        }
        assert_eq!(
            source.matches('{').count(),
            source.matches('}').count(),
            "{language:?}: unbalanced braces"
        );
    }
}

#[test]
fn each_request_names_its_response_and_method_as_its_language_says_it() {
    let expected: [(Language, &str); 8] = [
        (Language::TypeScript, "export class DeleteChatMember implements IReturn<SessionInfo>, IDelete\n"),
        (
            Language::JavaScript,
            "    getMethod() { return 'DELETE' }\n    createResponse() { return new SessionInfo() }\n",
        ),
        (
            Language::CSharp,
            "    public partial class DeleteChatMember\n        : IReturn<SessionInfo>, IDelete\n",
        ),
        (Language::Python, "class DeleteChatMember(IReturn[SessionInfo], IDelete):\n"),
        (Language::Kotlin, "open class DeleteChatMember : IReturn<SessionInfo>, IDelete\n"),
        (
            Language::Java,
            "    public static class DeleteChatMember implements IReturn<SessionInfo>, IDelete\n",
        ),
        (
            Language::Swift,
            "public class DeleteChatMember : IReturn, IDelete, Codable\n{\n    public typealias Return = SessionInfo\n",
        ),
        (Language::Dart, "class DeleteChatMember implements IReturn<SessionInfo>, IConvertible, IDelete\n"),
    ];
    for (language, text) in expected {
        assert!(reference(language).contains(text), "{language:?} lacks {text:?}");
    }
}

#[test]
fn python_fields_are_snake_case_and_a_keyword_keeps_its_wire_name() {
    let source = reference(Language::Python);
    assert!(source.contains("    member_to_remove: Optional[str] = None\n"));
    assert!(
        source
            .contains("    from_: Optional[str] = field(metadata=config(field_name='from'), default=None)\n")
    );
    assert!(source.contains("class SessionCallState(str, Enum):\n    DISCONNECTED = 'Disconnected'\n"));
    assert!(source.contains("    ended: bool = False\n"));
}

#[test]
fn the_javascript_of_an_operation_page_is_laid_out_as_the_seed_page() {
    let service = Service::get();
    let operation = service.operation("DeleteChatMember").expect("described");
    let source = Language::JavaScript.operation_dtos(service, operation, "example.com");
    assert!(source.starts_with("\"use strict\";\n"));
    assert!(source.contains("/** @typedef {'None'|'Active'} */\nexport var SessionDialState;\n(function (SessionDialState) {\n    SessionDialState[\"None\"] = \"None\"\n"));
    assert!(source.contains("    /**\n     * @type {SessionCallState}\n     * @description The call state of the session */\n    callState;\n"));
    assert!(source.contains("export class DeleteChatMember {\n    /** @param {{sessionId?:string,memberToRemove?:string,reason?:string}} [init] */\n"));
    // Only the types this operation uses.
    assert!(!source.contains("ListSessionsResponse"));
}
