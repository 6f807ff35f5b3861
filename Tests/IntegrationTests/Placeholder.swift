import Testing
@Test func placeholderI() {}
