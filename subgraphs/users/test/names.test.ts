// Display names are shown to other users (a merchant's name on a buyer's receipt), so they refuse
// links in every disguise and characters that show as nothing (found by the auth probe: IP
// addresses, `localhost:8080`, `javascript:`, dot look-alikes and blank-looking fillers passed).
import { describe, expect, it } from 'vitest';
import { nameProblem } from '../src/domain/validation';

describe('nameProblem', () => {
  it.each([
    'Verify at 203.0.113.5',
    '203.0.113.5/verify',
    'localhost:8080/verify',
    'Admin [::1]:8080',
    'javascript:alert(1)',
    'data:text/html,<script>x</script>',
    'file:///etc/passwd',
    'mailto:help',
    'evil\u2024com',
    'evil\ufe52com',
    'Shop ｅｖｉｌ．ｃｏｍ',
    'https://evil.example',
  ])('refuses the link %j', (name) => {
    expect(nameProblem(name)).toMatch(/web address/);
  });

  it.each(['\u2800', 'Shop\u3164', '\u115fA', 'A\u034fB', '\uffa0'])('refuses the invisible filler in %j', (name) => {
    expect(nameProblem(name)).toMatch(/invisible/);
  });

  it.each(['J. Smith & Co.', 'Dr. No', 'St. Louis Coffee', 'Café 24/7', 'Open 9:30-17:00', 'Big Data: analytics', 'Shop No. 1.5', '서울 커피', 'Version 2.0'])('accepts the ordinary name %j', (name) => {
    expect(nameProblem(name)).toBeNull();
  });
});
